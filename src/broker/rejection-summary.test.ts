// The rejection summary on a fake clock and timer: one record per window at
// most, exact counts, a bounded datacenter sample, nothing lost on close.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RejectionSummary, type RejectionSummaryData, type RejectionSummaryOptions } from './rejection-summary.js';

const START = Date.parse('2026-11-29T12:00:00.000Z');

/** A summary on a fake clock whose timers fire when the clock passes them; `written` is every summary with its write time. */
function harness(overrides: Partial<RejectionSummaryOptions> = {}) {
  let nowMs = START;
  const timers = new Set<{ due: number; callback: () => void }>();
  const written: { at: number; data: RejectionSummaryData }[] = [];
  const scheduled: number[] = [];
  const summary = new RejectionSummary({
    now: () => new Date(nowMs),
    schedule: (callback, delayMs) => {
      scheduled.push(delayMs);
      const timer = { due: nowMs + delayMs, callback };
      timers.add(timer);
      return () => timers.delete(timer);
    },
    write: (data) => {
      written.push({ at: nowMs, data });
      return Promise.resolve();
    },
    onWriteError: (error) => {
      throw error;
    },
    ...overrides,
  });
  const advance = (ms: number): void => {
    nowMs += ms;
    for (const timer of [...timers].sort((a, b) => a.due - b.due)) {
      if (timer.due > nowMs) continue;
      timers.delete(timer);
      timer.callback();
    }
  };
  return { summary, written, scheduled, timers, advance };
}

describe('RejectionSummary', () => {
  it('writes nothing per rejection, then one record for the minute with exact counts', () => {
    const { summary, written, scheduled, advance } = harness();
    for (let i = 0; i < 3000; i++) {
      summary.record({ channel: '/v1/bridges/heartbeat', code: i % 3 === 0 ? 'BRIDGE_BAD_SIGNATURE' : 'BRIDGE_MESSAGE_INVALID', datacenter: i % 3 === 0 ? 'us-east' : undefined });
      if (i % 100 === 99) advance(1000);
    }
    summary.record({ channel: '/v1/bridges/presence', code: 'BRIDGE_UNKNOWN', datacenter: 'nowhere' });
    expect(written).toEqual([]);
    expect(scheduled).toEqual([60_000]);

    advance(30_000);
    expect(written).toHaveLength(1);
    expect(written[0]?.at).toBe(START + 60_000);
    expect(written[0]?.data).toEqual({
      first: '2026-11-29T12:00:00.000Z',
      last: '2026-11-29T12:00:30.000Z',
      total: 3001,
      counts: [
        { channel: '/v1/bridges/heartbeat', code: 'BRIDGE_BAD_SIGNATURE', count: 1000 },
        { channel: '/v1/bridges/heartbeat', code: 'BRIDGE_MESSAGE_INVALID', count: 2000 },
        { channel: '/v1/bridges/presence', code: 'BRIDGE_UNKNOWN', count: 1 },
      ],
      datacenters: [
        { datacenter: 'nowhere', count: 1 },
        { datacenter: 'us-east', count: 1000 },
      ],
      otherDatacenters: 0,
    });
  });

  it('opens the next window only at the next rejection, so records are at least a minute apart', () => {
    const { summary, written, advance } = harness();
    summary.record({ channel: 'a', code: 'X' });
    advance(60_000);
    advance(5000);
    expect(written).toHaveLength(1);
    summary.record({ channel: 'a', code: 'X' });
    advance(59_999);
    expect(written).toHaveLength(1);
    advance(1);
    expect(written.map((w) => w.at - START)).toEqual([60_000, 125_000]);
    expect(written.map((w) => w.data.total)).toEqual([1, 1]);
    // A quiet minute writes nothing.
    advance(120_000);
    expect(written).toHaveLength(2);
  });

  it('keeps a bounded sample of claimed datacenters and counts the rest', () => {
    const { summary, written, advance } = harness({ sampleSize: 3 });
    for (let i = 0; i < 1000; i++) summary.record({ channel: 'a', code: 'BRIDGE_UNKNOWN', datacenter: `dc-${i % 10}` });
    advance(60_000);
    expect(written[0]?.data.datacenters).toEqual([
      { datacenter: 'dc-0', count: 100 },
      { datacenter: 'dc-1', count: 100 },
      { datacenter: 'dc-2', count: 100 },
    ]);
    expect(written[0]?.data.otherDatacenters).toBe(700);
  });

  it('writes the open window on close, at once and once; later rejections are not written', async () => {
    const { summary, written, timers, advance } = harness();
    summary.record({ channel: 'a', code: 'X' });
    advance(10_000);
    summary.record({ channel: 'a', code: 'X' });
    const closing = summary.close();
    expect(summary.close()).toBe(closing);
    await closing;
    expect(written.map((w) => [w.at - START, w.data.total])).toEqual([[10_000, 2]]);
    expect(timers.size).toBe(0);
    summary.record({ channel: 'a', code: 'X' });
    advance(120_000);
    await summary.close();
    expect(written).toHaveLength(1);
  });

  it('writes nothing on close when nothing was rejected', async () => {
    const { summary, written } = harness();
    await summary.close();
    expect(written).toEqual([]);
  });

  it('close waits for a summary still being written', async () => {
    let finish: () => void = () => undefined;
    const { summary, advance } = harness({ write: () => new Promise<void>((resolve) => (finish = resolve)) });
    summary.record({ channel: 'a', code: 'X' });
    advance(60_000);
    let closed = false;
    const closing = summary.close().then(() => (closed = true));
    await Promise.resolve();
    expect(closed).toBe(false);
    finish();
    await closing;
    expect(closed).toBe(true);
  });

  it('hands a failed write to onWriteError', async () => {
    const errors: unknown[] = [];
    const failure = new Error('disk full');
    const { summary } = harness({ write: () => Promise.reject(failure), onWriteError: (error) => errors.push(error) });
    summary.record({ channel: 'a', code: 'X' });
    await summary.close();
    expect(errors).toEqual([failure]);
  });

  it('property: whatever arrives and whenever, records are a window apart and add up to every rejection', async () => {
    const event = fc.oneof(
      fc.record({ channel: fc.constantFrom('/h', '/a', '/p'), code: fc.constantFrom('X', 'Y'), datacenter: fc.option(fc.constantFrom('a', 'b', 'c', 'd'), { nil: undefined }) }),
      fc.integer({ min: 1, max: 90_000 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(event, { maxLength: 200 }), async (events) => {
        const { summary, written, advance } = harness({ sampleSize: 2 });
        const expected = new Map<string, number>();
        for (const e of events) {
          if (typeof e === 'number') {
            advance(e);
            continue;
          }
          summary.record(e);
          const key = `${e.channel} ${e.code}`;
          expected.set(key, (expected.get(key) ?? 0) + 1);
        }
        await summary.close();
        const times = written.map((w) => w.at);
        // Every record but the one close writes waited out its whole window.
        for (let i = 1; i < times.length - 1; i++) expect((times[i] ?? 0) - (times[i - 1] ?? 0)).toBeGreaterThanOrEqual(60_000);
        const counted = new Map<string, number>();
        for (const { data } of written) {
          expect(data.total).toBe(data.counts.reduce((n, c) => n + c.count, 0));
          expect(data.datacenters.length).toBeLessThanOrEqual(2);
          for (const c of data.counts) counted.set(`${c.channel} ${c.code}`, (counted.get(`${c.channel} ${c.code}`) ?? 0) + c.count);
        }
        expect(counted).toEqual(expected);
      }),
    );
  });
});
