/**
 * The SFrame crypto backend on node:crypto: synchronous OpenSSL calls behind
 * the async SFrameCrypto interface, without WebCrypto's per-call promise and
 * key-import overhead, and the same calls bare as SyncSFrameCrypto, which
 * SFrameContext.encryptSync/decryptSync use. Same results as
 * WebCryptoBackend, byte for byte.
 */
import { createCipheriv, createDecipheriv, createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { GCM_TAG_LENGTH, type HashName, type PreparedKey, type SyncSFrameCrypto } from '../sframe/crypto.js';
import { hkdfExpandWith } from '../sframe/hkdf.js';

const NODE_HASH: Readonly<Record<HashName, string>> = { 'SHA-256': 'sha256', 'SHA-512': 'sha512' };
/** One options object for every GCM call, rather than a new one per frame. */
const GCM_OPTIONS = { authTagLength: GCM_TAG_LENGTH } as const;

type GcmName = 'aes-128-gcm' | 'aes-256-gcm';
type CtrName = 'aes-128-ctr' | 'aes-256-ctr';

/** What prepareKey hands out behind PreparedKey: the KeyObject and, for AES keys, the cipher names. */
interface NodeKey {
  readonly key: KeyObject;
  readonly gcm: GcmName | undefined;
  readonly ctr: CtrName | undefined;
}

/** Runs `f` now and hands its result (or its exception) back as a promise. */
function settle<T>(f: () => T): Promise<T> {
  return new Promise((resolve) => {
    resolve(f());
  });
}

function aesBits(key: Uint8Array): 128 | 256 {
  if (key.length === 16) return 128;
  if (key.length === 32) return 256;
  throw new RangeError(`AES keys are 16 or 32 bytes, got ${key.length}`);
}

function gcm(key: Uint8Array): GcmName {
  return aesBits(key) === 128 ? 'aes-128-gcm' : 'aes-256-gcm';
}

function ctr(key: Uint8Array): CtrName {
  return aesBits(key) === 128 ? 'aes-128-ctr' : 'aes-256-ctr';
}

/** The cipher name of a prepared key, or a RangeError for a key that is not 16 or 32 bytes. */
function cipherName<T extends string>(name: T | undefined, key: KeyObject): T {
  if (name === undefined) throw new RangeError(`AES keys are 16 or 32 bytes, got ${String(key.symmetricKeySize)}`);
  return name;
}

/** Copies a Buffer (possibly a slice of Node's shared pool) into a plain Uint8Array of its own. */
function plain(...parts: Buffer[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/**
 * A Buffer OpenSSL's output came in as a plain Uint8Array: a view on the same
 * memory when the Buffer has its ArrayBuffer to itself (cipher output does),
 * else a copy, so that no caller ever holds a slice of Node's shared pool.
 */
function own(buffer: Buffer): Uint8Array {
  return buffer.byteOffset === 0 && buffer.buffer.byteLength === buffer.length ? new Uint8Array(buffer.buffer, 0, buffer.length) : plain(buffer);
}

function hmacOnce(hash: HashName, key: Uint8Array, data: Uint8Array): Uint8Array {
  return plain(createHmac(NODE_HASH[hash], key).update(data).digest());
}

/** SFrameCrypto on node:crypto, with the synchronous capability. */
export class NodeSFrameCrypto implements SyncSFrameCrypto {
  readonly name = 'node:crypto';

  /** HKDF-Extract is HMAC(salt, ikm), RFC 5869 §2.2 (an empty HMAC key equals HashLen zeros). */
  hkdfExtract(hash: HashName, salt: Uint8Array, ikm: Uint8Array): Promise<Uint8Array> {
    return settle(() => hmacOnce(hash, salt, ikm));
  }

  hkdfExpand(hash: HashName, prk: Uint8Array, info: Uint8Array, length: number): Promise<Uint8Array> {
    return hkdfExpandWith((h, k, d) => this.hmac(h, k, d), hash, prk, info, length);
  }

  hmac(hash: HashName, key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
    return settle(() => hmacOnce(hash, key, data));
  }

  aesGcmSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
    return settle(() => {
      const cipher = createCipheriv(gcm(key), key, nonce, GCM_OPTIONS);
      cipher.setAAD(aad);
      return plain(cipher.update(plaintext), cipher.final(), cipher.getAuthTag());
    });
  }

  aesGcmOpen(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array | undefined> {
    return settle(() => openGcm(gcm(key), key, nonce, aad, ciphertext));
  }

  aesCtr(key: Uint8Array, counter: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
    return settle(() => runCtr(ctr(key), key, counter, data));
  }

  /** A KeyObject made once (createSecretKey copies the bytes), with the cipher names its length allows. */
  prepareKey(key: Uint8Array): PreparedKey {
    const aes = key.length === 16 || key.length === 32;
    const prepared: NodeKey = { key: createSecretKey(key), gcm: aes ? gcm(key) : undefined, ctr: aes ? ctr(key) : undefined };
    return prepared as unknown as PreparedKey;
  }

  aesGcmSealInto(key: PreparedKey, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, out: Uint8Array, offset: number): void {
    const k = key as unknown as NodeKey;
    const cipher = createCipheriv(cipherName(k.gcm, k.key), k.key, nonce, GCM_OPTIONS);
    cipher.setAAD(aad);
    // Node has no update-into: its output is copied once, into the frame.
    const body = cipher.update(plaintext);
    out.set(body, offset);
    const tail = cipher.final(); // empty for GCM, a stream mode
    if (tail.length > 0) out.set(tail, offset + body.length);
    out.set(cipher.getAuthTag(), offset + body.length + tail.length);
  }

  aesGcmOpenSync(key: PreparedKey, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array | undefined {
    const k = key as unknown as NodeKey;
    return openGcm(cipherName(k.gcm, k.key), k.key, nonce, aad, ciphertext);
  }

  aesCtrSync(key: PreparedKey, counter: Uint8Array, data: Uint8Array): Uint8Array {
    const k = key as unknown as NodeKey;
    return runCtr(cipherName(k.ctr, k.key), k.key, counter, data);
  }

  hmacSync(hash: HashName, key: PreparedKey, parts: readonly Uint8Array[]): Uint8Array {
    const mac = createHmac(NODE_HASH[hash], (key as unknown as NodeKey).key);
    for (const part of parts) mac.update(part);
    return own(mac.digest());
  }
}

/** AES-GCM decryption of ciphertext ‖ tag; undefined when the tag does not verify. */
function openGcm(name: GcmName, key: KeyObject | Uint8Array, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array | undefined {
  if (ciphertext.length < GCM_TAG_LENGTH) return undefined;
  const decipher = createDecipheriv(name, key, nonce, GCM_OPTIONS);
  decipher.setAAD(aad);
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - GCM_TAG_LENGTH));
  const body = decipher.update(ciphertext.subarray(0, ciphertext.length - GCM_TAG_LENGTH));
  let tail: Buffer;
  try {
    // final() throws exactly when the tag does not verify; the key and nonce were accepted above.
    tail = decipher.final();
  } catch {
    body.fill(0); // unauthenticated plaintext never leaves
    return undefined;
  }
  return tail.length === 0 ? own(body) : plain(body, tail);
}

function runCtr(name: CtrName, key: KeyObject | Uint8Array, counter: Uint8Array, data: Uint8Array): Uint8Array {
  // OpenSSL increments the whole 128-bit block, WebCrypto (length 32) the low
  // 32 bits: the same until 2^32 blocks (64 GiB), more than one frame can be.
  const cipher = createCipheriv(name, key, counter);
  const body = cipher.update(data);
  const tail = cipher.final();
  return tail.length === 0 ? own(body) : plain(body, tail);
}
