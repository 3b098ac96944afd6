// Transparency log (RFC 9162 §2.1): the Merkle tree, its node store, proofs and their verification. Pure and isomorphic.
export * from './hash.js';
export * from './node-store.js';
export * from './tree.js';
export * from './verify.js';
