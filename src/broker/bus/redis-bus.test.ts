/**
 * The brokers' bus against the real Redis (127.0.0.1:6379, as CI runs it):
 * each test on a prefix of its own, deleted after.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ReplayGuard } from '../../protocol/bridge-message.js';
import { startTcpProxy } from '../../node/tcp-proxy.fixture.js';
import { RedisBus, type BusEvent } from './redis-bus.js';

const REDIS_URL = process.env.GEOBRIDGE_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const admin = new Redis(REDIS_URL, { lazyConnect: true });
const prefixes: string[] = [];
const buses: RedisBus[] = [];

function newPrefix(): string {
  const prefix = `gb_test_${randomUUID().slice(0, 8)}`;
  prefixes.push(prefix);
  return prefix;
}

async function open(prefix: string, broker: string, url = REDIS_URL): Promise<RedisBus> {
  const bus = await RedisBus.connect(url, { broker, prefix, connectTimeoutMs: 2000 });
  buses.push(bus);
  return bus;
}

/** Resolves with the first event `bus` hears that matches. */
function heard(bus: RedisBus, match: (event: BusEvent) => boolean): Promise<BusEvent> {
  return new Promise((resolve) => {
    bus.onEvent((event) => {
      if (match(event)) resolve(event);
    });
  });
}

/** Polls until `check` holds, for at most `ms`. */
async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

afterEach(async () => {
  await Promise.all(buses.splice(0).map((b) => b.close()));
});

afterAll(async () => {
  await admin.connect();
  for (const prefix of prefixes) {
    const keys = await admin.keys(`${prefix}:*`);
    if (keys.length > 0) await admin.del(...keys);
  }
  await admin.quit();
});

describe('RedisBus', () => {
  it("delivers one broker's events to the others, never back to itself", async () => {
    const prefix = newPrefix();
    const [a, b, c] = await Promise.all([open(prefix, 'a'), open(prefix, 'b'), open(prefix, 'c')]);
    const ownEcho: BusEvent[] = [];
    a.onEvent((e) => ownEcho.push(e));
    const atB = heard(b, (e) => e.kind === 'lost');
    const atC = heard(c, (e) => e.kind === 'lost');
    await a.publish({ kind: 'lost', broker: 'a', datacenter: 'eu-fra' });
    expect(await atB).toEqual({ kind: 'lost', broker: 'a', datacenter: 'eu-fra' });
    expect(await atC).toEqual({ kind: 'lost', broker: 'a', datacenter: 'eu-fra' });
    // A round trip from b to a after a's publish: had a heard its own event, it would have by now.
    const back = heard(a, (e) => e.kind === 'keys');
    await b.publish({ kind: 'keys', broker: 'b' });
    await back;
    expect(ownEcho.filter((e) => e.broker === 'a')).toEqual([]);
  });

  it('keeps apart deployments on other prefixes', async () => {
    const [a, other] = await Promise.all([open(newPrefix(), 'a'), open(newPrefix(), 'b')]);
    const seen: BusEvent[] = [];
    other.onEvent((e) => seen.push(e));
    await a.publish({ kind: 'keys', broker: 'a' });
    await a.saveReport('eu-fra', { participants: 1, cpu: 0.1, draining: false }, 1000);
    await new Promise((r) => setTimeout(r, 200));
    expect(seen).toEqual([]);
    expect(await other.reports()).toEqual([]);
  });

  it('keeps the last report of each bridge for brokers that start later', async () => {
    const prefix = newPrefix();
    const a = await open(prefix, 'a');
    await a.saveReport('eu-fra', { participants: 3, cpu: 0.5, draining: false, url: 'wss://fra.example/' }, 1000);
    await a.saveReport('eu-fra', { participants: 4, cpu: 0.6, draining: false, url: 'wss://fra.example/' }, 2000);
    await a.saveReport('us-east', { participants: 0, cpu: 0, draining: true }, 1500);
    const later = await open(prefix, 'later');
    const reports = (await later.reports()).sort((x, y) => x.datacenter.localeCompare(y.datacenter));
    expect(reports).toEqual([
      { datacenter: 'eu-fra', report: { participants: 4, cpu: 0.6, draining: false, url: 'wss://fra.example/' }, atMs: 2000 },
      { datacenter: 'us-east', report: { participants: 0, cpu: 0, draining: true }, atMs: 1500 },
    ]);
  });

  it('shares the replay guard: a seq one broker accepted is a replay at every other', async () => {
    const prefix = newPrefix();
    const [a, b] = await Promise.all([open(prefix, 'a'), open(prefix, 'b')]);
    const ga = a.seqGuard('messages', 4);
    const gb = b.seqGuard('messages', 4);
    expect(await ga.admit('eu-fra', 10)).toEqual({ fresh: true });
    expect(await gb.admit('eu-fra', 10)).toEqual({ fresh: false, highest: 10 });
    expect(await gb.admit('eu-fra', 8)).toEqual({ fresh: true });
    expect(await ga.admit('eu-fra', 8)).toEqual({ fresh: false, highest: 10 });
    expect(await ga.admit('eu-fra', 6)).toEqual({ fresh: false, highest: 10 });
    expect(await gb.admit('us-east', 1)).toEqual({ fresh: true });
    // Scopes are numbered apart: a hello's seq is no replay of a message's.
    expect(await a.seqGuard('hellos', 4).admit('eu-fra', 10)).toEqual({ fresh: true });
  });

  it('lets exactly one of many brokers racing with one seq accept it', async () => {
    const prefix = newPrefix();
    const all = await Promise.all(['a', 'b', 'c', 'd'].map((name) => open(prefix, name)));
    for (let seq = 1; seq <= 20; seq++) {
      const verdicts = await Promise.all(all.flatMap((bus) => [0, 1].map(async () => bus.seqGuard('messages').admit('eu-fra', seq))));
      expect(verdicts.filter((v) => v.fresh)).toHaveLength(1);
    }
  });

  it("agrees with the in-memory ReplayGuard on every sequence of seqs (fast-check)", async () => {
    const bus = await open(newPrefix(), 'a');
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 40 }), fc.integer({ min: 1, max: 8 }), async (seqs, window) => {
        const local = new ReplayGuard(window);
        const shared = bus.seqGuard(`p${run++}`, window);
        for (const seq of seqs) expect(await shared.admit('dc', seq)).toEqual(local.admit('dc', seq));
      }),
      { numRuns: 150 },
    );
  });

  it('says BUS_UNAVAILABLE, without the password, when Redis does not answer', async () => {
    const start = performance.now();
    const error = await RedisBus.connect('redis://:s3cret@127.0.0.1:1', { broker: 'a', prefix: newPrefix(), connectTimeoutMs: 1000 }).then(
      () => undefined,
      (e: unknown) => e as { code?: string; message?: string },
    );
    expect(error?.code).toBe('BUS_UNAVAILABLE');
    expect(error?.message).toContain('redis://127.0.0.1:1');
    expect(error?.message).not.toContain('s3cret');
    expect(performance.now() - start).toBeLessThan(15_000);
  });

  it('when Redis goes away: not ready, publishing fails at once with BUS_UNAVAILABLE; when it is back: ready, and events flow again', async () => {
    const proxy = await startTcpProxy('127.0.0.1', Number(new URL(REDIS_URL).port || 6379));
    try {
      const prefix = newPrefix();
      const through = await open(prefix, 'a', `redis://127.0.0.1:${proxy.port}`);
      const direct = await open(prefix, 'b');
      const states: boolean[] = [];
      through.onStatus((ready) => states.push(ready));
      expect(through.ready).toBe(true);
      await proxy.cut();
      await until(() => !through.ready);
      const refused = await through.publish({ kind: 'keys', broker: 'a' }).then(() => undefined, (e: unknown) => (e as { code?: string }).code);
      expect(refused).toBe('BUS_UNAVAILABLE');
      await expect(through.seqGuard('messages').admit('eu-fra', 1)).rejects.toMatchObject({ code: 'BUS_UNAVAILABLE' });
      await proxy.restore();
      await until(() => through.ready);
      expect(states).toEqual([false, true]);
      // Subscribed again after the reconnect: it hears the others.
      const back = heard(through, (e) => e.kind === 'keys');
      await until(() => false, 300).catch(() => undefined);
      await direct.publish({ kind: 'keys', broker: 'b' });
      expect(await back).toEqual({ kind: 'keys', broker: 'b' });
    } finally {
      await proxy.close();
    }
  });
});
