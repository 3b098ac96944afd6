/**
 * An SFrame context (RFC 9605 Appendix A): one cipher suite, and KIDs mapped
 * to keys that are for encryption or for decryption, never both (§4.4.1).
 * Encryption keys carry the next CTR; decryption keys a replay window.
 */
import { aeadOpen, aeadSeal, splitAeadKey, type AeadKey } from './aead.js';
import { concatBytes } from './bytes.js';
import type { SFrameCrypto } from './crypto.js';
import { SFrameError } from './errors.js';
import { decodeHeader, encodeHeader, isU64, MAX_U64 } from './header.js';
import { deriveKeySalt, frameNonce } from './keys.js';
import { DEFAULT_REPLAY_WINDOW, ReplayWindow } from './replay.js';
import { DEFAULT_CIPHER_SUITE, getCipherSuite, type CipherSuite } from './suites.js';

/** How to build an SFrameContext. */
export interface SFrameContextOptions {
  /** The crypto backend: WebCryptoBackend, or NodeSFrameCrypto in Node. */
  readonly crypto: SFrameCrypto;
  /** IANA cipher suite value; AES_128_GCM_SHA256_128 (4) by default. */
  readonly suite?: number;
  /** Allow the editors'-draft suites 6–8, which are not IANA-registered. */
  readonly allowDraftSuites?: boolean;
  /** Replay window per decryption KID, in counters (default 128). */
  readonly replayWindow?: number;
}

/** A decrypted frame: the KID and CTR from its authenticated header, and the plaintext. */
export interface DecryptedFrame {
  readonly kid: bigint;
  readonly ctr: bigint;
  readonly plaintext: Uint8Array;
}

interface EncryptionKey {
  readonly role: 'encrypt';
  readonly aead: AeadKey;
  readonly salt: Uint8Array;
  /** The next CTR to use; MAX_U64 + 1 once exhausted. */
  nextCtr: bigint;
}

interface DecryptionKey {
  readonly role: 'decrypt';
  readonly aead: AeadKey;
  readonly salt: Uint8Array;
  readonly window: ReplayWindow;
}

/** Encrypts and decrypts SFrame ciphertexts for a set of KIDs under one cipher suite. */
export class SFrameContext {
  /** The cipher suite of every key in this context. */
  readonly suite: CipherSuite;
  readonly #crypto: SFrameCrypto;
  readonly #windowSize: number;
  readonly #keys = new Map<bigint, EncryptionKey | DecryptionKey>();

  constructor(options: SFrameContextOptions) {
    this.#crypto = options.crypto;
    this.suite = getCipherSuite(options.suite ?? DEFAULT_CIPHER_SUITE, { allowDraft: options.allowDraftSuites === true });
    this.#windowSize = options.replayWindow ?? DEFAULT_REPLAY_WINDOW;
    new ReplayWindow(this.#windowSize); // validates the size now rather than at the first key
  }

  /**
   * Adds a key for sending under `kid`. CTR starts at `nextCtr` (default 0):
   * an application that persists its context restores the stored CTR here
   * (§9.1), because reusing a (base_key, KID, CTR) reuses an AEAD nonce.
   * Throws SFRAME_BAD_KEY if `kid` already has a key; remove it first.
   */
  async addEncryptionKey(kid: bigint, baseKey: Uint8Array, options: { nextCtr?: bigint } = {}): Promise<void> {
    const nextCtr = options.nextCtr ?? 0n;
    if (!isU64(nextCtr)) throw new SFrameError('SFRAME_BAD_KEY', `nextCtr must be a BigInt in 0..2^64-1, got ${String(nextCtr)}.`);
    const { aead, salt } = await this.#derive(kid, baseKey);
    this.#insert(kid, { role: 'encrypt', aead, salt, nextCtr });
  }

  /** Adds a key for receiving under `kid`, with an empty replay window. Throws SFRAME_BAD_KEY if `kid` already has a key. */
  async addDecryptionKey(kid: bigint, baseKey: Uint8Array): Promise<void> {
    const { aead, salt } = await this.#derive(kid, baseKey);
    this.#insert(kid, { role: 'decrypt', aead, salt, window: new ReplayWindow(this.#windowSize) });
  }

  /** Forgets the key of `kid` (with its CTR or replay window); false if there was none. */
  removeKey(kid: bigint): boolean {
    return this.#keys.delete(kid);
  }

  /** The CTR the next encryption under `kid` will use, for persisting (§9.1); undefined unless `kid` is an encryption key. */
  nextCounter(kid: bigint): bigint | undefined {
    const entry = this.#keys.get(kid);
    return entry?.role === 'encrypt' ? entry.nextCtr : undefined;
  }

  /**
   * Encrypts `plaintext` under `kid` (§4.4.3): header ‖ AEAD(key, salt XOR CTR,
   * header ‖ metadata, plaintext). The metadata is authenticated, not sent.
   */
  async encrypt(kid: bigint, metadata: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
    const entry = this.#keys.get(kid);
    if (entry?.role !== 'encrypt') {
      const why = entry ? 'it is a decryption key, and a key is for one direction only (RFC 9605 §4.4.1)' : 'no key was added for it';
      throw new SFrameError('SFRAME_UNKNOWN_KID', `Cannot encrypt with KID ${String(kid)}: ${why}.`);
    }
    const ctr = entry.nextCtr;
    if (ctr > MAX_U64) throw new SFrameError('SFRAME_CTR_EXHAUSTED', `KID ${kid.toString()} has used every CTR up to 2^64-1; add a new key under a new KID.`);
    // Take the CTR before the first await, so concurrent calls never share a nonce (§7.4, §9.1).
    entry.nextCtr = ctr + 1n;
    const header = encodeHeader(kid, ctr);
    const ciphertext = await aeadSeal(this.#crypto, this.suite, entry.aead, frameNonce(entry.salt, ctr), concatBytes(header, metadata), plaintext);
    return concatBytes(header, ciphertext);
  }

  /**
   * Decrypts an SFrame ciphertext (§4.4.4). Rejects with SFRAME_BAD_HEADER,
   * SFRAME_UNKNOWN_KID, SFRAME_AUTH_FAILED or SFRAME_REPLAY; a frame that
   * fails to authenticate leaves the replay window unchanged.
   */
  async decrypt(metadata: Uint8Array, frame: Uint8Array): Promise<DecryptedFrame> {
    const { kid, ctr, length } = decodeHeader(frame);
    const entry = this.#keys.get(kid);
    if (entry?.role !== 'decrypt') {
      const why = entry ? 'it is an encryption key, and a key is for one direction only (RFC 9605 §4.4.1)' : 'no key was added for it';
      throw new SFrameError('SFRAME_UNKNOWN_KID', `Cannot decrypt a frame with KID ${kid.toString()}: ${why}.`);
    }
    const before = entry.window.check(ctr);
    if (before !== 'fresh') throw replayError(kid, ctr, before, entry.window.size);
    const header = frame.subarray(0, length);
    const plaintext = await aeadOpen(this.#crypto, this.suite, entry.aead, frameNonce(entry.salt, ctr), concatBytes(header, metadata), frame.subarray(length));
    if (plaintext === undefined) throw new SFrameError('SFRAME_AUTH_FAILED', `The frame with KID ${kid.toString()} and CTR ${ctr.toString()} does not authenticate: altered, truncated, or encrypted under another key or metadata.`);
    const after = entry.window.accept(ctr);
    if (after !== 'fresh') throw replayError(kid, ctr, after, entry.window.size);
    return { kid, ctr, plaintext };
  }

  async #derive(kid: bigint, baseKey: Uint8Array): Promise<{ aead: AeadKey; salt: Uint8Array }> {
    this.#checkFree(kid);
    const { key, salt } = await deriveKeySalt(this.#crypto, this.suite, kid, baseKey);
    return { aead: splitAeadKey(this.suite, key), salt };
  }

  #insert(kid: bigint, entry: EncryptionKey | DecryptionKey): void {
    this.#checkFree(kid); // again: another add for this KID may have finished during the derivation
    this.#keys.set(kid, entry);
  }

  #checkFree(kid: bigint): void {
    if (this.#keys.has(kid)) throw new SFrameError('SFRAME_BAD_KEY', `KID ${String(kid)} already has a key; remove it before adding another.`);
  }
}

function replayError(kid: bigint, ctr: bigint, verdict: 'duplicate' | 'too-old', size: number): SFrameError {
  const why = verdict === 'duplicate' ? 'was already accepted' : `is more than ${size} counters behind the newest accepted`;
  return new SFrameError('SFRAME_REPLAY', `The frame with KID ${kid.toString()} and CTR ${ctr.toString()} ${why}; dropped as a replay.`);
}
