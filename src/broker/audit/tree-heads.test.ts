// Signed tree heads: what the signature covers, that no field can change under it, and the signer's rhythm.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashEmptyTree } from '../../translog/index.js';
import { ephemeralLogKey } from '../log-key.js';
import { MemoryAuditLog } from './memory-audit-log.js';
import { signTreeHead, treeHeadMessage, TreeHeadSigner, verifyTreeHead, type SignedTreeHead } from './tree-heads.js';

const key = await ephemeralLogKey();
const root = Uint8Array.from({ length: 32 }, (_, i) => i);

describe('tree head signatures', () => {
  it('cover the domain, the timestamp and the size as 64-bit big-endian integers, and the root', () => {
    const message = treeHeadMessage(258, root, 0x0102030405);
    const domain = Buffer.from('geobridge tree head v1\0');
    expect(Buffer.from(message.subarray(0, domain.length))).toEqual(domain);
    expect([...message.subarray(domain.length, domain.length + 16)]).toEqual([0, 0, 0, 1, 2, 3, 4, 5, 0, 0, 0, 0, 0, 0, 1, 2]);
    expect([...message.subarray(domain.length + 16)]).toEqual([...root]);
  });

  it('verify as signed, and the empty tree only with the empty root', () => {
    const sth = signTreeHead(key, { size: 3, rootHash: root }, 1_700_000_000_000);
    expect(verifyTreeHead(sth, key.publicKey, key.keyId)).toEqual({ ok: true, head: { size: 3, rootHash: root } });
    expect(verifyTreeHead(signTreeHead(key, { size: 0, rootHash: hashEmptyTree() }, 1), key.publicKey, key.keyId).ok).toBe(true);
    expect(verifyTreeHead(signTreeHead(key, { size: 0, rootHash: root }, 1), key.publicKey, key.keyId)).toMatchObject({ ok: false, reason: expect.stringContaining('0 leaves') as unknown });
  });

  it('fail under another key, or another key id', async () => {
    const other = await ephemeralLogKey();
    const sth = signTreeHead(key, { size: 3, rootHash: root }, 1);
    expect(verifyTreeHead(sth, other.publicKey, other.keyId)).toMatchObject({ ok: false, reason: expect.stringContaining('not the log key') as unknown });
    expect(verifyTreeHead({ ...sth, keyId: other.keyId }, other.publicKey, other.keyId)).toMatchObject({ ok: false, reason: expect.stringContaining('does not verify') as unknown });
  });

  it('property: any change to size, root, timestamp or signature fails, and never throws', () => {
    const sth = signTreeHead(key, { size: 1000, rootHash: root }, 1_700_000_000_000);
    const edits = fc.oneof(
      fc.integer({ min: -5, max: 2 ** 53 }).filter((n) => n !== sth.size).map((size): SignedTreeHead => ({ ...sth, size })),
      fc.integer({ min: 0, max: 2 ** 53 }).filter((n) => n !== sth.timestamp).map((timestamp): SignedTreeHead => ({ ...sth, timestamp })),
      fc.uint8Array({ minLength: 0, maxLength: 40 }).map((b): SignedTreeHead => ({ ...sth, rootHash: Buffer.from(b).toString('base64') })).filter((x) => x.rootHash !== sth.rootHash),
      fc.string().filter((s) => s !== sth.rootHash).map((rootHash): SignedTreeHead => ({ ...sth, rootHash })),
      fc.uint8Array({ minLength: 64, maxLength: 64 }).map((b): SignedTreeHead => ({ ...sth, signature: Buffer.from(b).toString('base64') })),
      fc.string().filter((s) => s !== sth.signature).map((signature): SignedTreeHead => ({ ...sth, signature })),
    );
    fc.assert(
      fc.property(edits, (edited) => {
        expect(verifyTreeHead(edited, key.publicKey, key.keyId).ok).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});

describe('TreeHeadSigner', () => {
  it('signs the first head on demand, a new one only when the log grew, keeps each in the log, and a last one at stop', async () => {
    const log = new MemoryAuditLog();
    let now = 1_700_000_000_000;
    const signer = new TreeHeadSigner(log, key, () => now);
    const first = await signer.latest();
    expect(first).toMatchObject({ size: 0, timestamp: now, keyId: key.keyId });
    now += 1000;
    expect(await signer.refresh()).toBe(first);
    await log.append('admin.action', {}, '2024-03-01');
    await log.append('admin.action', {}, '2024-03-02');
    const second = await signer.refresh();
    expect(second).toMatchObject({ size: 2, timestamp: now });
    expect(verifyTreeHead(second, key.publicKey, key.keyId)).toEqual({ ok: true, head: await log.treeHead() });
    expect(await signer.latest()).toBe(second);
    await log.append('admin.action', {}, '2024-03-03');
    await signer.stop();
    expect((await log.treeHeads()).map((h) => h.size)).toEqual([0, 2, 3]);
  });

  it('signs one head for refreshes that overlap', async () => {
    const log = new MemoryAuditLog();
    const signer = new TreeHeadSigner(log, key);
    const heads = await Promise.all([signer.refresh(), signer.refresh(), signer.latest()]);
    expect(new Set(heads).size).toBe(1);
    expect(await log.treeHeads()).toHaveLength(1);
  });
});
