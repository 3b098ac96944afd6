/**
 * The page's requests to an SFrame worker settle when the worker goes: a
 * connection that closes terminates its worker, and a statistics request
 * in flight then (a page polls them every second) used to wait forever.
 */
import { describe, expect, it } from 'vitest';
import { E2eeWorkerClosedError, e2eeStats, setKeys, terminateWorker } from './sframe-peer.js';

/** What the channel uses of a Worker: messages in and out, and terminate. */
class FakeWorker extends EventTarget {
  readonly posted: Record<string, unknown>[] = [];
  terminated = false;
  postMessage(message: Record<string, unknown>): void {
    this.posted.push(message);
  }
  terminate(): void {
    this.terminated = true;
  }
  reply(data: unknown): void {
    this.dispatchEvent(new MessageEvent('message', { data }));
  }
}

const STATS = { encrypted: { audio: 1, video: 2 }, decrypted: { audio: 0, video: 0 }, dropped: {}, unsent: {}, held: 0, sendEpoch: 0, receiveEpochs: [0] };

describe('requests to an E2EE worker', () => {
  it('are answered while the worker runs', async () => {
    const worker = new FakeWorker();
    const asked = e2eeStats(worker as unknown as Worker);
    worker.reply({ type: 'stats', id: worker.posted[0]?.id, stats: STATS });
    await expect(asked).resolves.toEqual(STATS);
  });

  it('reject once it is terminated, those in flight and those after', async () => {
    const worker = new FakeWorker();
    const stats = e2eeStats(worker as unknown as Worker);
    const keys = setKeys(worker as unknown as Worker, { epoch: 1, baseKey: new Uint8Array(16), ownLeaf: 0, senders: [0] });
    terminateWorker(worker as unknown as Worker);
    expect(worker.terminated).toBe(true);
    await expect(stats).rejects.toBeInstanceOf(E2eeWorkerClosedError);
    await expect(keys).rejects.toBeInstanceOf(E2eeWorkerClosedError);
    await expect(e2eeStats(worker as unknown as Worker)).rejects.toBeInstanceOf(E2eeWorkerClosedError);
    // A late reply from the dead worker changes nothing.
    worker.reply({ type: 'stats', id: worker.posted[0]?.id, stats: STATS });
  });
});
