/**
 * A naive reference for the tests, written from RFC 9162 §2.1's recursive
 * definitions over the whole leaf list (MTH, PATH, PROOF/SUBPROOF), with its
 * own hashing — nothing from the module under test.
 */
import { sha256 } from '@noble/hashes/sha2.js';

function prefixed(prefix: number, ...parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(1 + parts.reduce((sum, p) => sum + p.length, 0));
  out[0] = prefix;
  let offset = 1;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

export function refLeaf(data: Uint8Array): Uint8Array {
  return sha256(prefixed(0x00, data));
}

export function refNode(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(prefixed(0x01, left, right));
}

/** k: the largest power of two smaller than n. */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH(D[n]) of §2.1.1, by its recursion. */
export function refMth(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return sha256(new Uint8Array(0));
  if (leaves.length === 1) return refLeaf(leaves[0] as Uint8Array);
  const k = split(leaves.length);
  return refNode(refMth(leaves.slice(0, k)), refMth(leaves.slice(k)));
}

/** A half-open range [lo, hi) of leaf indices: the node MTH(D[lo:hi]). */
export type Range = readonly [lo: number, hi: number];

/** The ranges whose MTHs PATH(m, D[n]) of §2.1.3.1 lists, in order. */
export function pathRanges(m: number, n: number, lo = 0): Range[] {
  if (n === 1) return [];
  const k = split(n);
  return m < k ? [...pathRanges(m, k, lo), [lo + k, lo + n]] : [...pathRanges(m - k, n - k, lo + k), [lo, lo + k]];
}

/** The ranges whose MTHs PROOF(m, D[n]) of §2.1.4.1 lists, in order (0 < m < n). */
export function proofRanges(m: number, n: number): Range[] {
  const subproof = (m: number, lo: number, n: number, b: boolean): Range[] => {
    if (m === n) return b ? [] : [[lo, lo + n]];
    const k = split(n);
    return m <= k ? [...subproof(m, lo, k, b), [lo + k, lo + n]] : [...subproof(m - k, lo + k, n - k, false), [lo, lo + k]];
  };
  return subproof(m, 0, n, true);
}

/** The hashes of `ranges` in the tree of `leaves`. */
export function refNodes(leaves: readonly Uint8Array[], ranges: readonly Range[]): Uint8Array[] {
  return ranges.map(([lo, hi]) => refMth(leaves.slice(lo, hi)));
}

/**
 * MTH(D[lo:hi]) rebuilt from nodes whose hashes are `known` (keyed "lo:hi"),
 * descending the §2.1.1 recursion until it meets them; undefined when they do
 * not cover the range.
 */
export function rebuild(lo: number, hi: number, known: ReadonlyMap<string, Uint8Array>): Uint8Array | undefined {
  const hash = known.get(`${String(lo)}:${String(hi)}`);
  if (hash !== undefined || hi - lo <= 1) return hash;
  const k = split(hi - lo);
  const left = rebuild(lo, lo + k, known);
  const right = rebuild(lo + k, hi, known);
  return left && right ? refNode(left, right) : undefined;
}

/** For every safe integer (bit operators would stop at 2^31). */
export function isPowerOfTwo(n: number): boolean {
  let p = 1;
  while (p < n) p *= 2;
  return p === n;
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function fromHex(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16));
}
