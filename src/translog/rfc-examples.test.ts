/**
 * Hand-checked answers: the 7-leaf tree of RFC 6962 §2.1.3 (the same as
 * RFC 9162 §2.1.5) with its audit paths and consistency proofs node by node,
 * the published RFC 6962 test vectors, and the errors of proof generation.
 */
import { describe, expect, it } from 'vitest';
import { isGeobridgeError } from '../core/errors.js';
import { hashEmptyTree, hashLeaf } from './hash.js';
import { MemoryNodeStore, type NodeStore } from './node-store.js';
import { fromHex, refMth, refNode, toHex } from './reference.fixture.js';
import { MerkleTree } from './tree.js';
import { verifyConsistency, verifyInclusion } from './verify.js';

const encoder = new TextEncoder();

function treeOf(leaves: readonly Uint8Array[], store: NodeStore = new MemoryNodeStore()): MerkleTree {
  const tree = new MerkleTree(store);
  for (const leaf of leaves) tree.append(leaf);
  return tree;
}

describe('the 7-leaf tree of RFC 6962 §2.1.3', () => {
  const d = Array.from({ length: 7 }, (_, i) => encoder.encode(`d${String(i)}`));
  // The RFC's figure: leaves a..f over d0..d5, j over d6; g, h, i above pairs; k = (g, h), l = (i, j).
  const [a, b, c, dd, e, f, j] = d.map(refLeafOf) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  const g = refNode(a, b);
  const h = refNode(c, dd);
  const i = refNode(e, f);
  const k = refNode(g, h);
  const l = refNode(i, j);
  const hash = refNode(k, l);
  const names = new Map(Object.entries({ a, b, c, d: dd, e, f, j, g, h, i, k, l, hash }).map(([name, node]) => [toHex(node), name]));
  const named = (nodes: readonly Uint8Array[]): string[] => nodes.map((node) => names.get(toHex(node)) ?? toHex(node));
  const tree = treeOf(d);

  it('has the root hash = (k, l), equal to the recursive MTH', () => {
    expect(named([tree.head().rootHash])).toEqual(['hash']);
    expect(toHex(tree.head().rootHash)).toBe(toHex(refMth(d)));
  });

  it('gives the audit paths the RFC lists: d0 [b, h, l], d3 [c, g, l], d4 [f, j, k], d6 [i, k]', () => {
    expect(named(tree.inclusionProof(0))).toEqual(['b', 'h', 'l']);
    expect(named(tree.inclusionProof(3))).toEqual(['c', 'g', 'l']);
    expect(named(tree.inclusionProof(4))).toEqual(['f', 'j', 'k']);
    expect(named(tree.inclusionProof(6))).toEqual(['i', 'k']);
    // Not listed in the RFC; by the same figure, leaf b's (d1's) path is [a, h, l].
    expect(named(tree.inclusionProof(1))).toEqual(['a', 'h', 'l']);
    for (let index = 0; index < 7; index++) {
      expect(verifyInclusion(hashLeaf(d[index] as Uint8Array), index, tree.inclusionProof(index), tree.head())).toEqual({ ok: true });
    }
  });

  it('gives the consistency proofs the RFC lists: 3→7 [c, d, g, l], 4→7 [l], 6→7 [i, j, k]', () => {
    expect(named(tree.consistencyProof(3))).toEqual(['c', 'd', 'g', 'l']);
    expect(named(tree.consistencyProof(4))).toEqual(['l']);
    expect(named(tree.consistencyProof(6))).toEqual(['i', 'j', 'k']);
    // The RFC's incremental trees: hash0 = (g, c), hash1 = k, hash2 = (k, i).
    expect(toHex(tree.head(3).rootHash)).toBe(toHex(refNode(g, c)));
    expect(named([tree.head(4).rootHash])).toEqual(['k']);
    expect(toHex(tree.head(6).rootHash)).toBe(toHex(refNode(k, i)));
    for (const m of [3, 4, 6]) expect(verifyConsistency(tree.head(m), tree.head(), tree.consistencyProof(m))).toEqual({ ok: true });
  });

  it('stores exactly the perfect subtrees: a..f, j at level 0; g, h, i at 1; k at 2', () => {
    const store = new MemoryNodeStore();
    treeOf(d, store);
    const level = (l: number): string[] => Array.from({ length: 8 }, (_, n) => store.get(l, n)).flatMap((node) => (node ? named([node]) : []));
    expect([level(0), level(1), level(2), level(3)]).toEqual([['a', 'b', 'c', 'd', 'e', 'f', 'j'], ['g', 'h', 'i'], ['k'], []]);
  });
});

function refLeafOf(data: Uint8Array): Uint8Array {
  return refMth([data]);
}

describe('known answers', () => {
  // RFC 6962 test vectors as published by transparency-dev/merkle (testonly/constants.go), used as data.
  const leaves = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(fromHex);
  const roots = [
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
    'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
    'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
    '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
    'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
    '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
  ];
  // Every perfect subtree of the 8-leaf tree, by level then index: what the node store must hold.
  const nodes = [
    ['6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d', '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7', '0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7', '07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7', 'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b', '4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658', 'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f', '46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1'],
    ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a', 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0'],
    ['d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7', '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4'],
    ['5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328'],
  ];

  it('the empty tree: SHA-256 of the empty string', () => {
    expect(toHex(hashEmptyTree())).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(toHex(new MerkleTree().head().rootHash)).toBe(roots[0]);
  });

  it('the published roots of every size 0..8, and the recursive reference agrees', () => {
    const tree = treeOf(leaves);
    for (let n = 0; n <= 8; n++) {
      expect(toHex(tree.head(n).rootHash), `size ${String(n)}`).toBe(roots[n]);
      expect(toHex(refMth(leaves.slice(0, n))), `size ${String(n)}`).toBe(roots[n]);
    }
  });

  it('the published perfect-subtree hashes, in the node store', () => {
    const store = new MemoryNodeStore();
    treeOf(leaves, store);
    nodes.forEach((level, l) => {
      level.forEach((hex, index) => {
        expect(toHex(store.get(l, index) ?? new Uint8Array())).toBe(hex);
      });
      expect(store.get(l, level.length)).toBeUndefined();
    });
  });

  it('the published proofs: inclusion of 0 and 5 in 8; consistency 2→8, 6→8, 2→5', () => {
    const tree = treeOf(leaves);
    const hex = (proof: Uint8Array[]): string[] => proof.map(toHex);
    expect(hex(tree.inclusionProof(0, 8))).toEqual([nodes[0]?.[1], nodes[1]?.[1], nodes[2]?.[1]]);
    expect(hex(tree.inclusionProof(5, 8))).toEqual([nodes[0]?.[4], nodes[1]?.[3], nodes[2]?.[0]]);
    expect(hex(tree.consistencyProof(2, 8))).toEqual([nodes[1]?.[1], nodes[2]?.[1]]);
    expect(hex(tree.consistencyProof(6, 8))).toEqual([nodes[1]?.[2], nodes[1]?.[3], nodes[2]?.[0]]);
    expect(hex(tree.consistencyProof(2, 5))).toEqual([nodes[1]?.[1], nodes[0]?.[4]]);
  });
});

describe('edges', () => {
  const data = Array.from({ length: 5 }, (_, i) => Uint8Array.of(i));
  const tree = treeOf(data);

  it('a one-leaf tree: the root is the leaf hash, the path empty', () => {
    const one = treeOf([Uint8Array.of(7)]);
    expect(one.inclusionProof(0)).toEqual([]);
    expect(verifyInclusion(hashLeaf(Uint8Array.of(7)), 0, [], one.head())).toEqual({ ok: true });
  });

  it('consistency from the empty tree, and between equal sizes: empty proofs', () => {
    expect(tree.consistencyProof(0)).toEqual([]);
    expect(tree.consistencyProof(5)).toEqual([]);
    expect(verifyConsistency(tree.head(0), tree.head(), [])).toEqual({ ok: true });
    expect(verifyConsistency(tree.head(0), tree.head(0), [])).toEqual({ ok: true });
    expect(verifyConsistency(tree.head(3), tree.head(3), [])).toEqual({ ok: true });
    expect(verifyConsistency(tree.head(3), { size: 3, rootHash: tree.head(4).rootHash }, [])).toMatchObject({ ok: false, reason: 'second-root-mismatch' });
    expect(verifyConsistency({ size: 0, rootHash: tree.head(1).rootHash }, tree.head(), [])).toMatchObject({ ok: false, reason: 'first-root-mismatch' });
    expect(verifyConsistency(tree.head(0), tree.head(), [tree.head(1).rootHash])).toMatchObject({ ok: false, reason: 'proof-too-long' });
    expect(verifyConsistency(tree.head(2), tree.head(2), [tree.head(1).rootHash])).toMatchObject({ ok: false, reason: 'proof-too-long' });
    expect(verifyConsistency(tree.head(3), tree.head(), [])).toMatchObject({ ok: false, reason: 'proof-too-short' });
    expect(verifyConsistency(tree.head(4), tree.head(3), [])).toMatchObject({ ok: false, reason: 'sizes-out-of-order' });
  });

  it('binds the size through the root only, as the RFC algorithm does: leaf 0 of 5 also checks as leaf 0 of 6, 7 or 8 against the same root', () => {
    const head5 = tree.head(5);
    const proof = tree.inclusionProof(0, 5);
    for (const size of [6, 7, 8]) expect(verifyInclusion(hashLeaf(Uint8Array.of(0)), 0, proof, { size, rootHash: head5.rootHash })).toEqual({ ok: true });
    expect(verifyInclusion(hashLeaf(Uint8Array.of(0)), 0, proof, { size: 9, rootHash: head5.rootHash })).toMatchObject({ ok: false, reason: 'proof-too-short' });
  });

  it('refuses to prove what is not in the log: TRANSLOG_OUT_OF_RANGE', () => {
    const code = (fn: () => unknown): string | undefined => {
      try {
        fn();
      } catch (error) {
        return isGeobridgeError(error) ? error.code : 'not a GeobridgeError';
      }
      return undefined;
    };
    expect(code(() => tree.head(6))).toBe('TRANSLOG_OUT_OF_RANGE');
    expect(code(() => tree.head(-1))).toBe('TRANSLOG_OUT_OF_RANGE');
    expect(code(() => tree.inclusionProof(5))).toBe('TRANSLOG_OUT_OF_RANGE');
    expect(code(() => tree.inclusionProof(0, 0))).toBe('TRANSLOG_OUT_OF_RANGE');
    expect(code(() => tree.inclusionProof(1.5))).toBe('TRANSLOG_OUT_OF_RANGE');
    expect(code(() => tree.consistencyProof(4, 3))).toBe('TRANSLOG_OUT_OF_RANGE');
    expect(code(() => tree.consistencyProof(1, 6))).toBe('TRANSLOG_OUT_OF_RANGE');
    expect(code(() => tree.consistencyProof(Number.NaN))).toBe('TRANSLOG_OUT_OF_RANGE');
  });

  it('says so when the store lacks a node it should hold: TRANSLOG_MISSING_NODE', () => {
    const empty: NodeStore = { get: () => undefined, put: () => undefined, size: () => 4 };
    expect(() => new MerkleTree(empty).head()).toThrow(expect.objectContaining({ code: 'TRANSLOG_MISSING_NODE' }));
  });
});
