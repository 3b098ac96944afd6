/**
 * A bridge reports how busy its event loop is with every heartbeat, and the
 * broker averages it (load shedding, `serve --shed-at`, docs/broker.md). The
 * cluster runs in this process, so keeping this test's loop busy keeps the
 * bridge's busy too: the report is the loop's real measure, not a figure the
 * bridge was handed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from './cluster.fixture.js';

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster(['us-east']);
}, 30_000);
afterAll(async () => {
  await cluster.close();
});

describe("the bridge's event-loop load", () => {
  it('reaches the broker with its heartbeats: high while the loop is kept busy, low again once it rests', async () => {
    const ctx = cluster.broker.context;
    const average = (): number => ctx.registry.loopAverage('us-east', ctx.monotonicMs()) ?? Number.NaN;
    // Busy 250 ms at a time, yielding between so that heartbeats still go out and arrive.
    const until = performance.now() + 3000;
    while (performance.now() < until) {
      const end = performance.now() + 250;
      while (performance.now() < end) {
        // spin
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    const busy = average();
    expect(busy).toBeGreaterThan(0.6);
    expect(busy).toBeLessThanOrEqual(1);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(average()).toBeLessThan(0.5);
  }, 30_000);
});
