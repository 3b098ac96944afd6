// SFrame (RFC 9605): end-to-end encryption of media frames, pure and isomorphic.
export * from './errors.js';
export * from './header.js';
export * from './suites.js';
export * from './crypto.js';
export * from './hkdf.js';
export * from './aead.js';
export * from './keys.js';
export * from './replay.js';
export * from './context.js';
export * from './webcrypto.js';
