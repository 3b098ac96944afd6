// /readyz under a store or an audit log that never answers (a pool waiting on a partitioned server):
// a 503 with the code of the part that is away, within READY_TIMEOUT_MS, never a hung probe.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startTestBroker, type TestBroker } from '../test-broker.fixture.js';
import { READY_TIMEOUT_MS } from './system.js';

let broker: TestBroker;

beforeEach(async () => {
  broker = await startTestBroker();
});
afterEach(async () => {
  vi.restoreAllMocks();
  await broker.close();
});

/** Asks /readyz; its status, code and how long it took. */
async function readyz(): Promise<{ status: number; code: unknown; ms: number }> {
  const start = performance.now();
  const res = await broker.app.inject({ method: 'GET', url: '/readyz' });
  return { status: res.statusCode, code: res.json<{ code?: unknown }>().code, ms: performance.now() - start };
}

const never = (): Promise<never> => new Promise<never>(() => undefined);

describe('/readyz', () => {
  it('answers 503 STORE_UNAVAILABLE within its deadline when the store hangs, and the code of the store when both hang', async () => {
    vi.spyOn(broker.ctx.store, 'latestManifest').mockImplementation(never);
    const storeHangs = await readyz();
    expect(storeHangs).toMatchObject({ status: 503, code: 'STORE_UNAVAILABLE' });
    expect(storeHangs.ms).toBeGreaterThanOrEqual(READY_TIMEOUT_MS - 50);
    expect(storeHangs.ms).toBeLessThan(READY_TIMEOUT_MS + 1500);
    vi.spyOn(broker.ctx.audit, 'read').mockImplementation(never);
    expect(await readyz()).toMatchObject({ status: 503, code: 'STORE_UNAVAILABLE' });
  });

  it('answers 503 AUDIT_UNAVAILABLE within its deadline when the audit log hangs, and 200 again once it answers', async () => {
    const read = vi.spyOn(broker.ctx.audit, 'read').mockImplementation(never);
    const auditHangs = await readyz();
    expect(auditHangs).toMatchObject({ status: 503, code: 'AUDIT_UNAVAILABLE' });
    expect(auditHangs.ms).toBeLessThan(READY_TIMEOUT_MS + 1500);
    read.mockRestore();
    expect((await readyz()).status).toBe(200);
  });
});
