/**
 * Checks an audit log as an auditor would: the hash chain, the Merkle tree
 * rebuilt from the records against the one the log stored, every signed
 * tree head the log kept, and — what no one holding the data directory can
 * forge — a tree head signed earlier and kept elsewhere (`pinned`): the
 * records must still produce the root it signed, so a rewrite or a cut tail
 * shows however carefully the chain, the tree and the heads were redone.
 * A record store's log names itself in its first record (`store.opened`),
 * and its heads are signed under that name: a head of one log never passes
 * as another's.
 */
import type { ReceiptFileRoute } from '../../core/receipt-file.js';
import type { KeyObject } from 'node:crypto';
import { equalBytes, MemoryNodeStore, MerkleTree, type TreeHead } from '../../translog/index.js';
import { leafEntry, logNameOf, verifyChain, type AuditRecord } from './audit-log.js';
import { candidatePairs, checkInclusionPromise, verifyTreeHead, type DecidedRoute, type InclusionPromise, type SignedTreeHead } from './tree-heads.js';

/** What the log holds beside its records. */
export interface StoredTree {
  /** The stored tree's head over all its leaves; undefined when the file has no tree (written before the transparency log), 'damaged' when nodes are missing. */
  readonly head: TreeHead | 'damaged' | undefined;
  /** The signed heads the log kept. */
  readonly heads: readonly SignedTreeHead[];
}

/** The outcome: the first problem found, or what was checked. */
export type LogCheck =
  | { readonly ok: true; readonly count: number; readonly rootHash: string; readonly headsChecked: number; readonly pinned: readonly { readonly size: number; readonly timestamp: number }[]; readonly log?: string }
  | { readonly ok: false; readonly problem: 'chain' | 'tree' | 'head' | 'pinned'; readonly seq?: number; readonly reason: string };

/** The log's public key and its id. */
export interface LogPublicKey {
  readonly keyId: string;
  readonly publicKey: KeyObject;
}

/**
 * Checks `records` and their stored tree and heads under the log key, and
 * against the `pinned` heads kept outside the log. Without a key (the data
 * directory of a broker from before the transparency log) there must be no
 * heads to check.
 */
export function verifyLog(records: readonly AuditRecord[], stored: StoredTree, key: LogPublicKey | undefined, pinned: readonly SignedTreeHead[] = []): LogCheck {
  const chain = verifyChain(records);
  if (!chain.ok) return { ok: false, problem: 'chain', seq: chain.seq, reason: chain.reason };
  const log = logNameOf(records[0]);
  const tree = treeOf(records);
  const head = tree.head();
  if (stored.head === 'damaged') return { ok: false, problem: 'tree', reason: 'the stored Merkle tree lacks nodes a tree of its size has: it was edited or partly deleted' };
  if (stored.head === undefined) {
    if (stored.heads.length > 0) return { ok: false, problem: 'tree', reason: 'the log keeps signed tree heads but no tree: its tree table was removed' };
  } else if (stored.head.size !== head.size || !equalBytes(stored.head.rootHash, head.rootHash)) {
    return { ok: false, problem: 'tree', reason: `the stored Merkle tree (${String(stored.head.size)} leaves) does not match the records (${String(head.size)}): one of them was changed without the other` };
  }
  if (stored.heads.length + pinned.length > 0) {
    if (key === undefined) return { ok: false, problem: 'head', reason: 'there are signed tree heads to check but no log key to check them with' };
    for (const sth of stored.heads) {
      // The log keeps its heads without its name: they were signed under the one its first record gives.
      const problem = againstRecords(log === undefined ? sth : { ...sth, log }, tree, key, log);
      if (problem !== undefined) return { ok: false, problem: 'head', reason: `the tree head of ${String(sth.size)} records signed at ${new Date(sth.timestamp).toISOString()}: ${problem}` };
    }
    for (const sth of pinned) {
      const problem = againstRecords(sth, tree, key, log);
      if (problem !== undefined) return { ok: false, problem: 'pinned', reason: `the tree head you kept (${String(sth.size)} records, signed ${new Date(sth.timestamp).toISOString()}): ${problem}` };
    }
  }
  return { ok: true, count: records.length, rootHash: Buffer.from(head.rootHash).toString('base64'), headsChecked: stored.heads.length, pinned: pinned.map((h) => ({ size: h.size, timestamp: h.timestamp })), ...(log === undefined ? {} : { log }) };
}

/** A log as people name it: the broker's own, or the log of record store `log`. */
export function describeLog(log: string | undefined): string {
  return log === undefined ? "the broker's own log" : `the log of record store ${log}`;
}

/** The Merkle tree of `records`, rebuilt in memory: what the log's tree must be. */
function treeOf(records: readonly AuditRecord[]): MerkleTree {
  const tree = new MerkleTree(new MemoryNodeStore());
  for (const r of records) tree.append(leafEntry(r.hash));
  return tree;
}

/** Why `sth` does not fit the tree of the records of `log` (its name; undefined for a broker's own), or undefined when it does. */
function againstRecords(sth: SignedTreeHead, tree: MerkleTree, key: LogPublicKey, log: string | undefined): string | undefined {
  if (sth.log !== log) return `it is a head of ${describeLog(sth.log)}, and this is ${describeLog(log)}: check it against its own log`;
  const signed = verifyTreeHead(sth, key.publicKey, key.keyId);
  if (!signed.ok) return signed.reason;
  if (sth.size > tree.size) return `the log now holds only ${String(tree.size)} records: its tail was cut`;
  if (!equalBytes(tree.head(sth.size).rootHash, signed.head.rootHash)) return `the first ${String(sth.size)} records no longer produce the root it signed: history up to then was rewritten`;
  return undefined;
}

/** What `proveReceipt` needs of a receipt: the route answer's `receipt`, its decision, and a tree head if the holder kept one. */
export interface Receipt {
  readonly promise: InclusionPromise;
  readonly decisionId?: string;
  /** The manifest the receipt says the decision was made under (the promise signs it, and the record holds it). */
  readonly manifestSha256?: string;
  readonly sth?: SignedTreeHead;
  /** What the receipt says was decided: the participant's country and the candidates, in order (the promise signs both, and the record holds both). */
  readonly route?: ClaimedRoute;
}

/** The route a receipt file's route names, as its promise signs it. */
export function decidedRouteOfFile(route: Pick<ReceiptFileRoute, 'decisionId' | 'country' | 'candidates' | 'receipt'>): DecidedRoute {
  return { decisionId: route.decisionId, manifestSha256: route.receipt.manifestSha256, country: route.country, candidates: route.candidates };
}

/** The route a receipt names, as its promise signs it (`routeDigest`): whatever the receipt lacks is signed as null, and does not verify. */
export function decidedRouteOf(receipt: Omit<Receipt, 'promise' | 'sth'>): DecidedRoute {
  return { decisionId: receipt.decisionId, manifestSha256: receipt.manifestSha256, country: receipt.route?.country, candidates: receipt.route?.candidates };
}

/** A route as a receipt tells it, read from untrusted JSON. */
export interface ClaimedRoute {
  readonly country: unknown;
  readonly candidates: unknown;
}

/** A route's candidates as [datacenter, jurisdiction] pairs (none when it has no list). */
function pairsOf(route: ClaimedRoute): [unknown, unknown][] {
  return candidatePairs(route.candidates) ?? [];
}

/** Whether two routes name the same country and the same candidates, in the same order, with the same jurisdictions. */
export function sameRoute(a: ClaimedRoute, b: ClaimedRoute): boolean {
  return JSON.stringify([a.country, pairsOf(a)]) === JSON.stringify([b.country, pairsOf(b)]);
}

/** "DE → eu-central (DE), eu-south (IT)": a route's country and candidates, for people. */
export function routeWords(route: ClaimedRoute): string {
  return `${String(route.country)} → ${pairsOf(route).map(([dc, jurisdiction]) => `${String(dc)} (${String(jurisdiction)})`).join(', ')}`;
}

/** The outcome of proving a receipt against a log. */
export type ReceiptCheck = { readonly ok: true; readonly record: AuditRecord; readonly rootHash: string } | { readonly ok: false; readonly reason: string };

/**
 * Whether the log (`records`, read whole) holds the decision `receipt`
 * promises: signed by the log key, for this log (the promise names a record
 * store's), the same record at the promised leaf, the
 * decision it names, and a log that still gives the root of any tree head
 * the holder kept. The first contradiction is the reason.
 */
export function proveReceipt(records: readonly AuditRecord[], receipt: Receipt, key: LogPublicKey): ReceiptCheck {
  const { promise } = receipt;
  const unsigned = checkInclusionPromise(promise, decidedRouteOf(receipt), key.publicKey, key.keyId);
  if (unsigned !== undefined) return { ok: false, reason: `the receipt is not this log's promise: ${unsigned}` };
  const chain = verifyChain(records);
  if (!chain.ok) return { ok: false, reason: `the log itself is broken at record ${String(chain.seq)}: ${chain.reason}` };
  const log = logNameOf(records[0]);
  if (promise.log !== log) return { ok: false, reason: `the receipt is for ${describeLog(promise.log)}, and this is ${describeLog(log)}: check it against the log it names` };
  const seq = promise.index + 1;
  const record = records[promise.index];
  if (record === undefined) return { ok: false, reason: `the log lacks it: the receipt is for record ${String(seq)}, and the log holds ${String(records.length)}` };
  if (record.hash !== promise.recordHash) return { ok: false, reason: `the log holds a different record ${String(seq)} than the one promised (hash ${record.hash}, promised ${promise.recordHash}): it was rewritten` };
  if (receipt.decisionId !== undefined && record.data.decisionId !== receipt.decisionId) return { ok: false, reason: `record ${String(seq)} is not decision ${receipt.decisionId}` };
  // Records from before decisions named their manifest carry none.
  const manifest = record.data.manifestSha256;
  if (receipt.manifestSha256 !== undefined && typeof manifest === 'string' && manifest !== receipt.manifestSha256) {
    return { ok: false, reason: `wrong manifest: record ${String(seq)} was decided under manifest ${manifest}, the receipt names ${receipt.manifestSha256}` };
  }
  if (receipt.route !== undefined) {
    const logged = { country: record.data.country, candidates: record.data.candidates };
    if (!sameRoute(receipt.route, logged)) return { ok: false, reason: `record ${String(seq)} decided ${routeWords(logged)}, not ${routeWords(receipt.route)} as the receipt says: the receipt was altered` };
  }
  const tree = treeOf(records);
  if (receipt.sth !== undefined) {
    const problem = againstRecords(receipt.sth, tree, key, log);
    if (problem !== undefined) return { ok: false, reason: `the receipt's tree head (${String(receipt.sth.size)} records): ${problem}` };
    if (receipt.sth.size <= promise.index) return { ok: false, reason: `the receipt's tree head (${String(receipt.sth.size)} records) does not cover record ${String(seq)}` };
  }
  return { ok: true, record, rootHash: Buffer.from(tree.head().rootHash).toString('base64') };
}
