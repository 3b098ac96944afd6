/**
 * The contract every AuditLog adapter must meet, as a vitest suite:
 * `describeAuditContract('sqlite', () => SqliteAuditLog.open(tmp()))`.
 * `open` must give a fresh, empty log on every call.
 *
 * Tampering here edits the records an adapter read back; it shows that what
 * an adapter stores and returns is exactly what was hashed, and that
 * verifyChain finds every single edit. Edits to the stored bytes themselves
 * are adapter-specific (see audit.test.ts for SQL edits).
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { hashLeaf, MerkleTree, verifyConsistency, verifyInclusion } from '../../translog/index.js';
import { GENESIS_HASH, hashRecord, leafEntry, verifyChain, type AuditLog, type AuditRecord, type AuditType } from './audit-log.js';
import type { SignedTreeHead } from './tree-heads.js';

const TYPES: readonly AuditType[] = [
  'route.decision',
  'route.refusal',
  'bridge.enrolled',
  'bridge.rejected',
  'bridge.rejected.summary',
  'bridge.admission',
  'bridge.refusal',
  'placement.claimed',
  'placement.rehomed',
  'meeting.ended',
  'manifest.changed',
  'manifest.rejected',
  'admin.action',
];

/** One append of a test sequence. */
interface Append {
  readonly type: AuditType;
  readonly data: Readonly<Record<string, unknown>>;
  readonly at: string;
}

/** The single edits the contract makes, and where verifyChain must then fail. */
export const TAMPERINGS = ['data', 'at', 'type', 'hash', 'prevHash', 'rehash', 'drop', 'swap'] as const;
export type Tampering = (typeof TAMPERINGS)[number];

/**
 * Applies one edit at index `i` (`j` > i is the other record of a swap) and
 * returns the records and the seq verifyChain must report, or undefined
 * when the edit is invisible to the chain alone: a dropped or re-hashed LAST
 * record leaves a valid, shorter or different, chain. Only an anchor kept
 * elsewhere (the head hash) reveals those.
 */
export function tamper(records: readonly AuditRecord[], kind: Tampering, i: number, j = i + 1): { records: AuditRecord[]; brokenAt: number | undefined } {
  const out = [...records];
  const r = out[i];
  if (!r) throw new RangeError(`no record at index ${i}`);
  const flip = (hex: string): string => (hex.startsWith('0') ? '1' : '0') + hex.slice(1);
  switch (kind) {
    case 'data':
      out[i] = { ...r, data: { ...r.data, tampered: r.data.tampered !== true } };
      return { records: out, brokenAt: r.seq };
    case 'at':
      out[i] = { ...r, at: new Date(Date.parse(r.at) + 1).toISOString() };
      return { records: out, brokenAt: r.seq };
    case 'type':
      out[i] = { ...r, type: r.type === 'admin.action' ? 'route.decision' : 'admin.action' };
      return { records: out, brokenAt: r.seq };
    case 'hash':
      out[i] = { ...r, hash: flip(r.hash) };
      return { records: out, brokenAt: r.seq };
    case 'prevHash':
      out[i] = { ...r, prevHash: flip(r.prevHash) };
      return { records: out, brokenAt: r.seq };
    case 'rehash': {
      // A careful forger recomputes the record's own hash; the next record's link still gives it away.
      const forged = { seq: r.seq, at: r.at, type: r.type, data: { ...r.data, tampered: r.data.tampered !== true }, prevHash: r.prevHash };
      out[i] = { ...forged, hash: hashRecord(forged) };
      return { records: out, brokenAt: out[i + 1]?.seq };
    }
    case 'drop':
      out.splice(i, 1);
      // verifyChain reports the first record out of place: the one after the gap.
      return { records: out, brokenAt: out[i]?.seq };
    case 'swap': {
      const other = out[j];
      if (!other) throw new RangeError(`no record at index ${j}`);
      out[i] = other;
      out[j] = r;
      return { records: out, brokenAt: other.seq };
    }
  }
}

const appendArb: fc.Arbitrary<Append> = fc.record({
  type: fc.constantFrom(...TYPES),
  data: fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2, stringUnit: 'binary' }), { maxKeys: 4 }),
  at: fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T23:59:59Z'), noInvalidDate: true }).map((d) => d.toISOString()),
});

function sample(i: number): Append {
  const day = String(1 + (i % 28)).padStart(2, '0');
  return { type: 'bridge.admission', data: { participant: `p${i}`, meeting: 'm1', country: 'US', jurisdiction: 'US', role: 'primary', outOfZone: false }, at: `2024-03-${day}T12:00:00.000Z` };
}

/** Registers the AuditLog contract suite for one adapter. */
export function describeAuditContract(name: string, open: () => AuditLog | Promise<AuditLog>): void {
  describe(`AuditLog contract: ${name}`, () => {
    const opened: AuditLog[] = [];
    const fresh = async (): Promise<AuditLog> => {
      const log = await open();
      opened.push(log);
      return log;
    };
    const filled = async (n: number): Promise<{ log: AuditLog; appended: AuditRecord[] }> => {
      const log = await fresh();
      const appended: AuditRecord[] = [];
      for (let i = 0; i < n; i++) {
        const a = sample(i);
        appended.push(await log.append(a.type, a.data, a.at));
      }
      return { log, appended };
    };

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((log) => log.close()));
    });

    it('appends chained records: seq 1..n, GENESIS first, each linked to the one before', async () => {
      const { appended } = await filled(5);
      expect(appended.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
      expect(appended[0]?.prevHash).toBe(GENESIS_HASH);
      appended.forEach((r, i) => {
        expect(r.hash).toBe(hashRecord(r));
        if (i > 0) expect(r.prevHash).toBe(appended[i - 1]?.hash);
      });
    });

    it('reads back exactly what append returned, by seq range', async () => {
      const { log, appended } = await filled(6);
      expect(await log.read()).toEqual(appended);
      expect(await log.read({ from: 2, to: 4 })).toEqual(appended.slice(1, 4));
      expect(await log.read({ from: 5 })).toEqual(appended.slice(4));
      expect(await log.read({ to: 1 })).toEqual(appended.slice(0, 1));
      expect(await log.read({ from: 4, to: 3 })).toEqual([]);
      expect(await log.read({ from: 7 })).toEqual([]);
    });

    it('stores data as canonical JSON and time in UTC, unaffected by later mutation of the input', async () => {
      const log = await fresh();
      const data: Record<string, unknown> = { b: 1, a: { y: [1, 'x', null], x: undefined }, s: 'ünï \ud800 \u0000' };
      const r = await log.append('admin.action', data, '2024-03-01T10:00:00+02:00');
      data.b = 2;
      expect(r.at).toBe('2024-03-01T08:00:00.000Z');
      expect(r.data).toEqual({ a: { y: [1, 'x', null] }, b: 1, s: 'ünï \ud800 \u0000' });
      expect(await log.read()).toEqual([r]);
      expect(verifyChain(await log.read())).toEqual({ ok: true, count: 1 });
    });

    it('reads time ranges [from, to) in seq order, whatever order the times came in', async () => {
      const log = await fresh();
      const at = ['2024-03-02T00:00:00Z', '2024-03-01T00:00:00Z', '2024-03-03T00:00:00Z', '2024-03-01T23:59:59.999Z'];
      for (const t of at) await log.append('admin.action', { t }, t);
      const seqs = async (from: string, to: string): Promise<number[]> => (await log.readTimeRange(from, to)).map((r) => r.seq);
      expect(await seqs('2024-03-01', '2024-03-02')).toEqual([2, 4]);
      expect(await seqs('2024-03-01T00:00:00.001Z', '2024-03-03')).toEqual([1, 4]);
      expect(await seqs('2024-03-02T01:00:00+01:00', '2024-03-04')).toEqual([1, 3]);
      expect(await seqs('2024-03-04', '2024-03-05')).toEqual([]);
    });

    it('rejects a time that is not ISO 8601 with INVALID_TIME and appends nothing', async () => {
      const log = await fresh();
      await expect(log.append('admin.action', {}, 'yesterday')).rejects.toMatchObject({ code: 'INVALID_TIME' });
      await expect(log.append('admin.action', {}, '2024-02-30')).rejects.toMatchObject({ code: 'INVALID_TIME' });
      await expect(log.readTimeRange('2024-03-01', 'soon')).rejects.toMatchObject({ code: 'INVALID_TIME' });
      expect(await log.read()).toEqual([]);
      expect((await log.append('admin.action', {}, '2024-03-01')).seq).toBe(1);
    });

    it('verifies an untouched log, empty or not', async () => {
      const log = await fresh();
      expect(verifyChain(await log.read())).toEqual({ ok: true, count: 0 });
      const { log: full } = await filled(8);
      expect(verifyChain(await full.read())).toEqual({ ok: true, count: 8 });
    });

    describe('tampering', () => {
      const cases: readonly { kind: Tampering; i: number; j?: number; brokenAt: number; reason: RegExp }[] = [
        { kind: 'data', i: 2, brokenAt: 3, reason: /hash does not match/ },
        { kind: 'at', i: 0, brokenAt: 1, reason: /hash does not match/ },
        { kind: 'type', i: 4, brokenAt: 5, reason: /hash does not match/ },
        { kind: 'hash', i: 3, brokenAt: 4, reason: /hash does not match/ },
        { kind: 'prevHash', i: 1, brokenAt: 2, reason: /prevHash/ },
        { kind: 'rehash', i: 2, brokenAt: 4, reason: /prevHash/ },
        { kind: 'drop', i: 2, brokenAt: 4, reason: /expected record 3, found 4/ },
        { kind: 'drop', i: 0, brokenAt: 2, reason: /expected record 1, found 2/ },
        { kind: 'swap', i: 1, j: 3, brokenAt: 4, reason: /expected record 2, found 4/ },
      ];
      for (const c of cases) {
        it(`finds ${c.kind} at record ${c.i + 1}: broken at ${c.brokenAt}`, async () => {
          const { log } = await filled(6);
          const edited = tamper(await log.read(), c.kind, c.i, c.j);
          expect(edited.brokenAt).toBe(c.brokenAt);
          const check = verifyChain(edited.records);
          expect(check).toMatchObject({ ok: false, seq: c.brokenAt });
          if (!check.ok) expect(check.reason).toMatch(c.reason);
        });
      }

      it('cannot see a dropped or re-hashed last record by itself (anchor the head hash elsewhere)', async () => {
        const { log } = await filled(4);
        const records = await log.read();
        expect(verifyChain(tamper(records, 'drop', 3).records)).toEqual({ ok: true, count: 3 });
        expect(verifyChain(tamper(records, 'rehash', 3).records)).toEqual({ ok: true, count: 4 });
      });

      it('property: any single edit at any index is found exactly there (the next record for a re-hash) and never throws', async () => {
        await fc.assert(
          fc.asyncProperty(fc.array(appendArb, { minLength: 2, maxLength: 8 }), fc.constantFrom(...TAMPERINGS), fc.nat(), fc.nat(), async (appends, kind, a, b) => {
            const log = await fresh();
            try {
              for (const x of appends) await log.append(x.type, x.data, x.at);
              const records = await log.read();
              expect(verifyChain(records)).toEqual({ ok: true, count: appends.length });
              const i = a % (kind === 'swap' ? records.length - 1 : records.length);
              const j = i + 1 + (b % (records.length - i - 1 || 1));
              const edited = tamper(records, kind, i, j);
              const check = verifyChain(edited.records);
              if (edited.brokenAt === undefined) {
                expect(check.ok).toBe(true);
                expect(i).toBe(records.length - 1);
              } else {
                expect(check).toMatchObject({ ok: false, seq: edited.brokenAt });
                expect(edited.brokenAt).toBe(kind === 'rehash' || kind === 'drop' ? i + 2 : kind === 'swap' ? j + 1 : i + 1);
              }
            } finally {
              await log.close();
            }
          }),
          { numRuns: 60 },
        );
      });
    });

    it('chains 50 concurrent appends into one valid line', async () => {
      const log = await fresh();
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => log.append('route.decision', { i }, sample(i).at)));
      expect(results.map((r) => r.seq).sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      const records = await log.read();
      expect(verifyChain(records)).toEqual({ ok: true, count: 50 });
      expect(records).toEqual([...results].sort((x, y) => x.seq - y.seq));
    });

    describe('transparency log', () => {
      it('is the RFC 9162 tree of the records\' hashes, leaf seq − 1 for record seq, at every size', async () => {
        const { log, appended } = await filled(13);
        const reference = new MerkleTree();
        expect(await log.treeHead(0)).toEqual(reference.head());
        for (const r of appended) {
          reference.append(leafEntry(r.hash));
          expect(await log.treeHead(r.seq)).toEqual(reference.head());
        }
        expect(await log.treeHead()).toEqual(reference.head());
      });

      it('proves every record in every tree that holds it, and every tree consistent with every later one', async () => {
        const { log, appended } = await filled(9);
        for (let size = 1; size <= appended.length; size++) {
          const head = await log.treeHead(size);
          for (const r of appended.slice(0, size)) {
            expect(verifyInclusion(hashLeaf(leafEntry(r.hash)), r.seq - 1, await log.inclusionProof(r.seq, size), head)).toEqual({ ok: true });
          }
          for (let first = 0; first <= size; first++) {
            expect(verifyConsistency(await log.treeHead(first), head, await log.consistencyProof(first, size))).toEqual({ ok: true });
          }
        }
      });

      it('refuses sizes beyond the log and records outside the tree with TRANSLOG_OUT_OF_RANGE', async () => {
        const { log } = await filled(3);
        await expect(log.treeHead(4)).rejects.toMatchObject({ code: 'TRANSLOG_OUT_OF_RANGE' });
        await expect(log.inclusionProof(4, 3)).rejects.toMatchObject({ code: 'TRANSLOG_OUT_OF_RANGE' });
        await expect(log.inclusionProof(0, 3)).rejects.toMatchObject({ code: 'TRANSLOG_OUT_OF_RANGE' });
        await expect(log.consistencyProof(3, 2)).rejects.toMatchObject({ code: 'TRANSLOG_OUT_OF_RANGE' });
      });

      it('keeps signed tree heads in order, with records appended around them', async () => {
        const log = await fresh();
        const head = (size: number): SignedTreeHead => ({ size, rootHash: 'cm9vdA==', timestamp: 1_700_000_000_000 + size, keyId: 'k', signature: 'c2ln' });
        await log.saveTreeHead(head(0));
        await Promise.all([log.append('admin.action', {}, '2024-03-01'), log.saveTreeHead(head(1)), log.append('admin.action', {}, '2024-03-02')]);
        expect(await log.treeHeads()).toEqual([head(0), head(1)]);
        expect((await log.read()).map((r) => r.seq)).toEqual([1, 2]);
      });

      it('gives the newest head kept as the latest: the last saved, not the largest or latest signed', async () => {
        const log = await fresh();
        expect(await log.latestTreeHead()).toBeUndefined();
        // Signers of brokers sharing a log may save a smaller, earlier-signed head after a larger one.
        const head = (size: number, timestamp: number): SignedTreeHead => ({ size, rootHash: `cm9vdA${String(size)}=`, timestamp, keyId: `k${String(size)}`, signature: 'c2ln' });
        await log.saveTreeHead(head(1, 1_700_000_000_001));
        expect(await log.latestTreeHead()).toEqual(head(1, 1_700_000_000_001));
        await log.append('admin.action', {}, '2024-03-01');
        await log.saveTreeHead(head(3, 1_700_000_000_003));
        await Promise.all([log.append('admin.action', {}, '2024-03-02'), log.saveTreeHead(head(2, 1_700_000_000_002))]);
        const heads = await log.treeHeads();
        expect(heads).toHaveLength(3);
        expect(await log.latestTreeHead()).toEqual(heads.at(-1));
        expect(await log.latestTreeHead()).toEqual(head(2, 1_700_000_000_002));
      });
    });

    it('closes idempotently; a closed log rejects with AUDIT_UNAVAILABLE', async () => {
      const log = await fresh();
      await log.close();
      await log.close();
      await expect(log.append('admin.action', {}, '2024-03-01')).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
      await expect(log.read()).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
      await expect(log.latestTreeHead()).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
    });
  });
}
