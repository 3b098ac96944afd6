/**
 * An SFrame context (RFC 9605 Appendix A): one cipher suite, and KIDs mapped
 * to keys that are for encryption or for decryption, never both (§4.4.1).
 * Encryption keys carry the next CTR; decryption keys a replay window.
 *
 * encrypt/decrypt work on every backend (a promise per frame, as WebCrypto
 * needs). encryptSync/decryptSync are the same operations, byte for byte,
 * for a backend with the synchronous capability (node:crypto): what does not
 * change per frame is computed once per key (the KID's header bytes, the
 * imported AEAD key, the nonce buffer), and KID and CTR stay off BigInt.
 * Both kinds write each frame's nonce and AAD into buffers they reuse (the
 * backend reads them before it returns, crypto.ts); the async kind grows the
 * backend's output into the frame rather than copy it into a new one, and on
 * WebCrypto uses each AES-GCM key imported once: in a browser, where every
 * new ArrayBuffer and every promise shows, that is most of what SFrame
 * would add to the AES-GCM call (docs/benchmarks.md, `sframe`).
 */
import { aeadOpen, aeadOpenSync, aeadSeal, aeadSealInto, prepareAeadKey, splitAeadKey, type AeadKey, type PreparedAeadKey } from './aead.js';
import { joinU64, splitU64, TWO_32 } from './bytes.js';
import { isImportingSFrameCrypto, isSyncSFrameCrypto, type ImportedGcmKey, type ImportingSFrameCrypto, type SFrameCrypto, type SyncSFrameCrypto } from './crypto.js';
import { SFrameError } from './errors.js';
import { encodeHeader, headerLength, isU64, readHeader, writeHeader, type HeaderHalves } from './header.js';
import { deriveKeySalt, writeFrameNonce } from './keys.js';
import { DEFAULT_REPLAY_WINDOW, ReplayWindow, type ReplayVerdict } from './replay.js';
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

/** What a key needs for every frame, derived once when it is added. */
interface KeyState {
  readonly kid: bigint;
  readonly aead: AeadKey;
  readonly salt: Uint8Array;
  /** The KID part of every header under this key (§4.3): its config bits X|K, and its bytes. */
  readonly kidNibble: number;
  readonly kidField: Uint8Array;
  /** The AEAD key imported once into a synchronous backend; undefined without one. */
  readonly prepared: PreparedAeadKey | undefined;
  /** The AES-GCM key imported once into an importing backend (WebCrypto); undefined without one, and for the other AEADs. */
  readonly imported: ImportedGcmKey | undefined;
  /** A copy of the salt whose last 8 bytes each call sets to salt XOR CTR (on an ArrayBuffer of its own, as #aad). */
  readonly nonce: Uint8Array;
}

interface EncryptionKey extends KeyState {
  readonly role: 'encrypt';
  /** The next CTR as 32-bit halves; ctrHi is 2^32 once every CTR up to 2^64 − 1 was used. */
  ctrHi: number;
  ctrLo: number;
}

interface DecryptionKey extends KeyState {
  readonly role: 'decrypt';
  readonly window: ReplayWindow;
}

type Entry = EncryptionKey | DecryptionKey;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** KIDs above 2^53 − 1 have a high half of at least 2^21. */
const SAFE_HI = 0x200000;

/**
 * The map key of a KID: a Number while it is exact (every KID in practice, and
 * cheap to hash), else the BigInt; undefined for a value that is no BigInt.
 */
function mapKey(kid: bigint): number | bigint | undefined {
  if (typeof kid !== 'bigint') return undefined;
  return kid >= 0n && kid <= MAX_SAFE ? Number(kid) : kid;
}

/** mapKey of the KID hi · 2^32 + lo, as a header gives it. */
function mapKeyOf(hi: number, lo: number): number | bigint {
  return hi < SAFE_HI ? hi * TWO_32 + lo : joinU64(hi, lo);
}

/** Encrypts and decrypts SFrame ciphertexts for a set of KIDs under one cipher suite. */
export class SFrameContext {
  /** The cipher suite of every key in this context. */
  readonly suite: CipherSuite;
  readonly #crypto: SFrameCrypto;
  readonly #sync: SyncSFrameCrypto | undefined;
  readonly #importing: ImportingSFrameCrypto | undefined;
  readonly #windowSize: number;
  readonly #keys = new Map<number | bigint, Entry>();
  /** The header decryptSync reads into, reused across frames. */
  readonly #header: HeaderHalves = { kidHi: 0, kidLo: 0, ctrHi: 0, ctrLo: 0, length: 0 };
  /**
   * Where each call writes header ‖ metadata, the AAD (the header alone is
   * used in place when the frame has it and there is no metadata). Made on
   * an ArrayBuffer of its own: V8 keeps a small typed array on its heap and
   * moves it out, allocating, whenever its buffer is asked for.
   */
  #aad = new Uint8Array(new ArrayBuffer(128));

  constructor(options: SFrameContextOptions) {
    this.#crypto = options.crypto;
    this.#sync = isSyncSFrameCrypto(options.crypto) ? options.crypto : undefined;
    this.#importing = isImportingSFrameCrypto(options.crypto) ? options.crypto : undefined;
    this.suite = getCipherSuite(options.suite ?? DEFAULT_CIPHER_SUITE, { allowDraft: options.allowDraftSuites === true });
    this.#windowSize = options.replayWindow ?? DEFAULT_REPLAY_WINDOW;
    new ReplayWindow(this.#windowSize); // validates the size now rather than at the first key
  }

  /** True when the backend has the synchronous capability, so encryptSync and decryptSync work (node:crypto, not WebCrypto). */
  get supportsSync(): boolean {
    return this.#sync !== undefined;
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
    const state = await this.#derive(kid, baseKey);
    const [ctrHi, ctrLo] = splitU64(nextCtr);
    this.#insert(kid, { ...state, role: 'encrypt', ctrHi, ctrLo });
  }

  /** Adds a key for receiving under `kid`, with an empty replay window. Throws SFRAME_BAD_KEY if `kid` already has a key. */
  async addDecryptionKey(kid: bigint, baseKey: Uint8Array): Promise<void> {
    const state = await this.#derive(kid, baseKey);
    this.#insert(kid, { ...state, role: 'decrypt', window: new ReplayWindow(this.#windowSize) });
  }

  /** Forgets the key of `kid` (with its CTR or replay window); false if there was none. */
  removeKey(kid: bigint): boolean {
    const key = mapKey(kid);
    return key !== undefined && this.#keys.delete(key);
  }

  /** The CTR the next encryption under `kid` will use, for persisting (§9.1); undefined unless `kid` is an encryption key. */
  nextCounter(kid: bigint): bigint | undefined {
    const key = mapKey(kid);
    const entry = key === undefined ? undefined : this.#keys.get(key);
    return entry?.role === 'encrypt' ? joinU64(entry.ctrHi, entry.ctrLo) : undefined;
  }

  /**
   * Encrypts `plaintext` under `kid` (§4.4.3): header ‖ AEAD(key, salt XOR CTR,
   * header ‖ metadata, plaintext). The metadata is authenticated, not sent.
   */
  encrypt(kid: bigint, metadata: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
    return this.#encrypt(kid, metadata, plaintext, false);
  }

  /**
   * encrypt() with the metadata in front, in the same array: metadata ‖
   * header ‖ ciphertext. It is what a media transform sends (the codec's
   * clear prefix, authenticated, then the SFrame ciphertext), without joining
   * two arrays per frame.
   */
  encryptWithPrefix(kid: bigint, metadata: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
    return this.#encrypt(kid, metadata, plaintext, true);
  }

  async #encrypt(kid: bigint, metadata: Uint8Array, plaintext: Uint8Array, prefixed: boolean): Promise<Uint8Array<ArrayBuffer>> {
    const entry = this.#encryptionKey(kid);
    // Take the CTR before the first await, so concurrent calls never share a nonce (§7.4, §9.1).
    const { ctrHi, ctrLo } = entry;
    advance(entry);
    const length = headerLength(entry.kidField.length, ctrHi, ctrLo);
    const aad = this.#aadBuffer(length + metadata.length);
    writeHeader(aad, entry.kidNibble, entry.kidField, ctrHi, ctrLo);
    aad.set(metadata, length);
    const nonce = writeFrameNonce(entry.nonce, entry.salt, ctrHi, ctrLo);
    const sealed = entry.imported && this.#importing ? this.#importing.gcmSeal(entry.imported, nonce, aad, plaintext) : aeadSeal(this.#crypto, this.suite, entry.aead, nonce, aad, plaintext);
    // Nonce and AAD are read by now, and the AAD buffer is the next frame's once we await: the header is written again below.
    const lead = prefixed ? metadata.slice() : undefined;
    const front = (lead?.length ?? 0) + length;
    const frame = withRoomInFront(await sealed, front);
    if (lead) frame.set(lead);
    writeHeader(frame, entry.kidNibble, entry.kidField, ctrHi, ctrLo, front - length);
    return frame;
  }

  /**
   * encrypt() without a promise, for a backend with the synchronous capability
   * (see supportsSync; a TypeError otherwise): the same frame, byte for byte,
   * and the same errors, thrown.
   */
  encryptSync(kid: bigint, metadata: Uint8Array, plaintext: Uint8Array): Uint8Array<ArrayBuffer> {
    const sync = this.#requireSync('encryptSync');
    const entry = this.#encryptionKey(kid);
    const { ctrHi, ctrLo } = entry;
    advance(entry);
    const length = headerLength(entry.kidField.length, ctrHi, ctrLo);
    // One array for the whole frame: the header goes in first, the backend writes ciphertext ‖ tag after it.
    const frame = new Uint8Array(length + plaintext.length + this.suite.nt);
    writeHeader(frame, entry.kidNibble, entry.kidField, ctrHi, ctrLo);
    const nonce = writeFrameNonce(entry.nonce, entry.salt, ctrHi, ctrLo);
    aeadSealInto(sync, this.suite, prepared(entry), nonce, this.#aadOf(frame, length, metadata), plaintext, frame, length);
    return frame;
  }

  /**
   * Decrypts an SFrame ciphertext (§4.4.4). Rejects with SFRAME_BAD_HEADER,
   * SFRAME_UNKNOWN_KID, SFRAME_AUTH_FAILED or SFRAME_REPLAY; a frame that
   * fails to authenticate leaves the replay window unchanged.
   */
  async decrypt(metadata: Uint8Array, frame: Uint8Array): Promise<DecryptedFrame> {
    // Its own halves, not #header: they are read again after the await.
    const h: HeaderHalves = { kidHi: 0, kidLo: 0, ctrHi: 0, ctrLo: 0, length: 0 };
    readHeader(frame, h);
    const entry = this.#freshDecryptionKey(h);
    const nonce = writeFrameNonce(entry.nonce, entry.salt, h.ctrHi, h.ctrLo);
    const aad = this.#aadOf(frame, h.length, metadata);
    const ciphertext = frame.subarray(h.length);
    const importing = this.#importing;
    if (entry.imported === undefined || importing === undefined) return accepted(entry, h, await aeadOpen(this.#crypto, this.suite, entry.aead, nonce, aad, ciphertext));
    if (ciphertext.length < this.suite.nt) return accepted(entry, h, undefined);
    let plaintext: Uint8Array | undefined;
    try {
      plaintext = new Uint8Array(await importing.gcmOpen(entry.imported, nonce, aad, ciphertext));
    } catch (error) {
      if (!importing.isAuthFailure(error)) throw error;
    }
    return accepted(entry, h, plaintext);
  }

  /**
   * decrypt() without a promise, for a backend with the synchronous capability
   * (see supportsSync; a TypeError otherwise): the same checks, replay window
   * and errors, thrown.
   */
  decryptSync(metadata: Uint8Array, frame: Uint8Array): DecryptedFrame {
    const sync = this.#requireSync('decryptSync');
    const h = this.#header;
    readHeader(frame, h);
    const entry = this.#freshDecryptionKey(h);
    const nonce = writeFrameNonce(entry.nonce, entry.salt, h.ctrHi, h.ctrLo);
    const plaintext = aeadOpenSync(sync, this.suite, prepared(entry), nonce, this.#aadOf(frame, h.length, metadata), frame.subarray(h.length));
    return accepted(entry, h, plaintext);
  }

  /** The encryption key of `kid`, with a CTR left; throws SFRAME_UNKNOWN_KID or SFRAME_CTR_EXHAUSTED. */
  #encryptionKey(kid: bigint): EncryptionKey {
    const key = mapKey(kid);
    const entry = key === undefined ? undefined : this.#keys.get(key);
    if (entry?.role !== 'encrypt') {
      const why = entry ? 'it is a decryption key, and a key is for one direction only (RFC 9605 §4.4.1)' : 'no key was added for it';
      throw new SFrameError('SFRAME_UNKNOWN_KID', `Cannot encrypt with KID ${String(kid)}: ${why}.`);
    }
    if (entry.ctrHi > 0xffffffff) throw new SFrameError('SFRAME_CTR_EXHAUSTED', `KID ${kid.toString()} has used every CTR up to 2^64-1; add a new key under a new KID.`);
    return entry;
  }

  /** The decryption key for header `h`, whose CTR the replay window still accepts; throws SFRAME_UNKNOWN_KID or SFRAME_REPLAY. */
  #freshDecryptionKey(h: HeaderHalves): DecryptionKey {
    const entry = this.#keys.get(mapKeyOf(h.kidHi, h.kidLo));
    if (entry?.role !== 'decrypt') {
      const why = entry ? 'it is an encryption key, and a key is for one direction only (RFC 9605 §4.4.1)' : 'no key was added for it';
      throw new SFrameError('SFRAME_UNKNOWN_KID', `Cannot decrypt a frame with KID ${joinU64(h.kidHi, h.kidLo).toString()}: ${why}.`);
    }
    const before = entry.window.checkHalves(h.ctrHi, h.ctrLo);
    if (before !== 'fresh') throw replayError(entry, h, before);
    return entry;
  }

  /**
   * header ‖ metadata for a frame whose header is its first `length` bytes:
   * the header itself when there is no metadata, else joined in the reused
   * AAD buffer (copied byte by byte, without a view of the header).
   */
  #aadOf(frame: Uint8Array, length: number, metadata: Uint8Array): Uint8Array {
    if (metadata.length === 0) return frame.subarray(0, length);
    const aad = this.#aadBuffer(length + metadata.length);
    for (let i = 0; i < length; i++) aad[i] = frame[i] ?? 0;
    aad.set(metadata, length);
    return aad;
  }

  /** The first `length` bytes of the reused AAD buffer, grown when needed. */
  #aadBuffer(length: number): Uint8Array {
    if (this.#aad.length < length) this.#aad = new Uint8Array(new ArrayBuffer(Math.max(length, 2 * this.#aad.length)));
    return this.#aad.subarray(0, length);
  }

  #requireSync(method: string): SyncSFrameCrypto {
    if (this.#sync === undefined) throw new TypeError(`SFrameContext.${method} needs a backend with the synchronous capability (node:crypto); ${this.#crypto.name} has none: use the async method.`);
    return this.#sync;
  }

  async #derive(kid: bigint, baseKey: Uint8Array): Promise<KeyState> {
    this.#checkFree(kid);
    const { key, salt } = await deriveKeySalt(this.#crypto, this.suite, kid, baseKey);
    const aead = splitAeadKey(this.suite, key);
    const kidOnly = encodeHeader(kid, 0n); // CTR 0 takes no bytes: config byte, then the KID's
    return {
      kid,
      aead,
      salt,
      kidNibble: (kidOnly[0] ?? 0) >> 4,
      kidField: kidOnly.slice(1),
      prepared: this.#sync && prepareAeadKey(this.#sync, this.suite, aead),
      imported: this.#importing && this.suite.aead === 'AES-GCM' ? await this.#importing.importGcmKey(aead.encKey) : undefined,
      nonce: ownBuffer(salt),
    };
  }

  #insert(kid: bigint, entry: Entry): void {
    this.#checkFree(kid); // again: another add for this KID may have finished during the derivation
    this.#keys.set(mapKey(kid) ?? kid, entry);
  }

  #checkFree(kid: bigint): void {
    const key = mapKey(kid);
    if (key !== undefined && this.#keys.has(key)) throw new SFrameError('SFRAME_BAD_KEY', `KID ${String(kid)} already has a key; remove it before adding another.`);
  }
}

/** ArrayBuffer.prototype.transfer (ES2024: Chromium 114, Firefox 122, Safari 17.4, Node 21), which lib es2023 does not declare. */
type Transferable = ArrayBuffer & { transfer(length: number): ArrayBuffer };
const canTransfer = typeof (ArrayBuffer.prototype as Partial<Transferable>).transfer === 'function';

/**
 * The AEAD's output moved `front` bytes up in an array `front` bytes longer,
 * for the caller to fill. When the output is a buffer of its own (crypto.ts),
 * that buffer grows into the frame through ArrayBuffer.prototype.transfer
 * instead of a new one being made and filled: in a browser every new
 * ArrayBuffer costs microseconds (docs/benchmarks.md, `sframe`).
 */
function withRoomInFront(sealed: Uint8Array | ArrayBuffer, front: number): Uint8Array<ArrayBuffer> {
  const own = sealed instanceof ArrayBuffer ? sealed : sealed.buffer instanceof ArrayBuffer && sealed.byteOffset === 0 && sealed.byteLength === sealed.buffer.byteLength ? sealed.buffer : undefined;
  if (canTransfer && own !== undefined) {
    const length = own.byteLength; // the buffer is detached from here on, and reads 0
    const frame = new Uint8Array((own as Transferable).transfer(front + length));
    frame.copyWithin(front, 0, length);
    return frame;
  }
  const body = sealed instanceof ArrayBuffer ? new Uint8Array(sealed) : sealed;
  const frame = new Uint8Array(front + body.length);
  frame.set(body, front);
  return frame;
}

/** Moves an encryption key to its next CTR: +1 on the halves, with the carry. */
function advance(entry: EncryptionKey): void {
  if (entry.ctrLo === 0xffffffff) {
    entry.ctrLo = 0;
    entry.ctrHi++;
  } else {
    entry.ctrLo++;
  }
}

/** The prepared AEAD key; every key has one when the context has a synchronous backend. */
function prepared(entry: KeyState): PreparedAeadKey {
  if (entry.prepared === undefined) throw new TypeError(`KID ${entry.kid.toString()} has no prepared key`);
  return entry.prepared;
}

/** A copy of `bytes` on an ArrayBuffer of its own (never on V8's heap; see SFrameContext's #aad). */
function ownBuffer(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const copy = new Uint8Array(new ArrayBuffer(bytes.length));
  copy.set(bytes);
  return copy;
}

/**
 * The end of decryption: SFRAME_AUTH_FAILED when the AEAD refused the frame,
 * else the CTR goes into the replay window (again checked: a concurrent
 * decrypt of the same frame may have got there first) and the frame out.
 */
function accepted(entry: DecryptionKey, h: HeaderHalves, plaintext: Uint8Array | undefined): DecryptedFrame {
  if (plaintext === undefined) {
    throw new SFrameError('SFRAME_AUTH_FAILED', `The frame with KID ${entry.kid.toString()} and CTR ${joinU64(h.ctrHi, h.ctrLo).toString()} does not authenticate: altered, truncated, or encrypted under another key or metadata.`);
  }
  const after = entry.window.acceptHalves(h.ctrHi, h.ctrLo);
  if (after !== 'fresh') throw replayError(entry, h, after);
  return { kid: entry.kid, ctr: joinU64(h.ctrHi, h.ctrLo), plaintext };
}

function replayError(entry: DecryptionKey, h: HeaderHalves, verdict: Exclude<ReplayVerdict, 'fresh'>): SFrameError {
  const why = verdict === 'duplicate' ? 'was already accepted' : `is more than ${entry.window.size} counters behind the newest accepted`;
  return new SFrameError('SFRAME_REPLAY', `The frame with KID ${entry.kid.toString()} and CTR ${joinU64(h.ctrHi, h.ctrLo).toString()} ${why}; dropped as a replay.`);
}
