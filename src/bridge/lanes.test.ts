import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Lanes } from './lanes.js';

/** A task that finishes when the test says so, logging its start. */
function gate(log: string[], name: string): { task: () => Promise<string>; open: () => void } {
  let open = (): void => undefined;
  const opened = new Promise<void>((r) => (open = r));
  return {
    task: async () => {
      log.push(name);
      await opened;
      return name;
    },
    open: () => {
      open();
    },
  };
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

describe('Lanes', () => {
  it('runs one lane in order and other lanes beside it', async () => {
    const lanes = new Lanes(8);
    const log: string[] = [];
    const a1 = gate(log, 'a1');
    const a2 = gate(log, 'a2');
    const b1 = gate(log, 'b1');
    const results = [lanes.run('a', a1.task), lanes.run('a', a2.task), lanes.run('b', b1.task)];
    await tick();
    expect(log).toEqual(['a1', 'b1']);
    b1.open();
    await tick();
    expect(log).toEqual(['a1', 'b1']);
    a1.open();
    await tick();
    expect(log).toEqual(['a1', 'b1', 'a2']);
    a2.open();
    expect(await Promise.all(results)).toEqual(['a1', 'a2', 'b1']);
    expect(lanes.busy).toBe(0);
  });

  it('goes on with a lane after a task fails, passing the failure to its caller only', async () => {
    const lanes = new Lanes(2);
    const failed = lanes.run('a', () => Promise.reject(new Error('broker said no')));
    const next = lanes.run('a', () => Promise.resolve('next'));
    await expect(failed).rejects.toThrow('broker said no');
    expect(await next).toBe('next');
  });

  it('never runs more than its limit at once, and runs every task (random lanes and finishing orders)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.integer({ min: 0, max: 4 }), fc.nat({ max: 3 })), { minLength: 1, maxLength: 30 }), fc.integer({ min: 1, max: 4 }), async (tasks, limit) => {
        const lanes = new Lanes(limit);
        let running = 0;
        let most = 0;
        const order = new Map<number, number[]>();
        await Promise.all(
          tasks.map(([lane, waits], i) =>
            lanes.run(String(lane), async () => {
              running++;
              most = Math.max(most, running);
              order.set(lane, [...(order.get(lane) ?? []), i]);
              for (let w = 0; w < waits; w++) await tick();
              running--;
            }),
          ),
        );
        expect(most).toBeLessThanOrEqual(limit);
        for (const [lane, ran] of order) expect(ran).toEqual(tasks.flatMap(([l], i) => (l === lane ? [i] : [])));
        expect(lanes.busy).toBe(0);
      }),
      { numRuns: 200 },
    );
  });
});
