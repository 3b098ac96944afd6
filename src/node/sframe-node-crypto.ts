/**
 * The SFrame crypto backend on node:crypto: synchronous OpenSSL calls behind
 * the async SFrameCrypto interface, without WebCrypto's per-call promise and
 * key-import overhead. Same results as WebCryptoBackend, byte for byte.
 */
import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto';
import { GCM_TAG_LENGTH, type HashName, type SFrameCrypto } from '../sframe/crypto.js';
import { hkdfExpandWith } from '../sframe/hkdf.js';

const NODE_HASH: Readonly<Record<HashName, string>> = { 'SHA-256': 'sha256', 'SHA-512': 'sha512' };

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

function gcm(key: Uint8Array): 'aes-128-gcm' | 'aes-256-gcm' {
  return aesBits(key) === 128 ? 'aes-128-gcm' : 'aes-256-gcm';
}

function ctr(key: Uint8Array): 'aes-128-ctr' | 'aes-256-ctr' {
  return aesBits(key) === 128 ? 'aes-128-ctr' : 'aes-256-ctr';
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

function hmacSync(hash: HashName, key: Uint8Array, data: Uint8Array): Uint8Array {
  return plain(createHmac(NODE_HASH[hash], key).update(data).digest());
}

/** SFrameCrypto on node:crypto. */
export class NodeSFrameCrypto implements SFrameCrypto {
  readonly name = 'node:crypto';

  /** HKDF-Extract is HMAC(salt, ikm), RFC 5869 §2.2 (an empty HMAC key equals HashLen zeros). */
  hkdfExtract(hash: HashName, salt: Uint8Array, ikm: Uint8Array): Promise<Uint8Array> {
    return settle(() => hmacSync(hash, salt, ikm));
  }

  hkdfExpand(hash: HashName, prk: Uint8Array, info: Uint8Array, length: number): Promise<Uint8Array> {
    return hkdfExpandWith((h, k, d) => this.hmac(h, k, d), hash, prk, info, length);
  }

  hmac(hash: HashName, key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
    return settle(() => hmacSync(hash, key, data));
  }

  aesGcmSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
    return settle(() => {
      const cipher = createCipheriv(gcm(key), key, nonce, { authTagLength: GCM_TAG_LENGTH });
      cipher.setAAD(aad);
      return plain(cipher.update(plaintext), cipher.final(), cipher.getAuthTag());
    });
  }

  aesGcmOpen(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array | undefined> {
    return settle(() => {
      if (ciphertext.length < GCM_TAG_LENGTH) return undefined;
      const decipher = createDecipheriv(gcm(key), key, nonce, { authTagLength: GCM_TAG_LENGTH });
      decipher.setAAD(aad);
      decipher.setAuthTag(ciphertext.subarray(ciphertext.length - GCM_TAG_LENGTH));
      const body = decipher.update(ciphertext.subarray(0, ciphertext.length - GCM_TAG_LENGTH));
      try {
        // final() throws exactly when the tag does not verify; the key and nonce were accepted above.
        return plain(body, decipher.final());
      } catch {
        body.fill(0); // unauthenticated plaintext never leaves
        return undefined;
      }
    });
  }

  aesCtr(key: Uint8Array, counter: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
    // OpenSSL increments the whole 128-bit block, WebCrypto (length 32) the low
    // 32 bits: the same until 2^32 blocks (64 GiB), more than one frame can be.
    return settle(() => {
      const cipher = createCipheriv(ctr(key), key, counter);
      return plain(cipher.update(data), cipher.final());
    });
  }
}
