/**
 * The SFrame crypto backend on WebCrypto (`crypto.subtle`): browsers, workers,
 * and Node 20's global `crypto`. The pure layers compile without the DOM lib,
 * so the few SubtleCrypto members used are declared here structurally and the
 * caller passes `crypto.subtle` in.
 */
import { GCM_TAG_LENGTH, type HashName, type ImportedGcmKey, type ImportingSFrameCrypto } from './crypto.js';
import { hkdfExpandWith, nonEmptyHmacKey } from './hkdf.js';

/** A WebCrypto CryptoKey, opaque to us. */
export interface CryptoKeyLike {
  readonly type: string;
}

/** The AES-GCM parameters of WebCrypto. */
export interface AesGcmParamsLike {
  readonly name: 'AES-GCM';
  readonly iv: Uint8Array<ArrayBuffer>;
  readonly additionalData: Uint8Array<ArrayBuffer>;
  readonly tagLength: number;
}

/** The AES-CTR parameters of WebCrypto. */
export interface AesCtrParamsLike {
  readonly name: 'AES-CTR';
  readonly counter: Uint8Array<ArrayBuffer>;
  readonly length: number;
}

/** The members of SubtleCrypto this backend uses; `crypto.subtle` satisfies it. */
export interface SubtleCryptoLike {
  importKey(
    format: 'raw',
    keyData: Uint8Array<ArrayBuffer>,
    algorithm: { readonly name: 'AES-GCM' | 'AES-CTR' } | { readonly name: 'HMAC'; readonly hash: HashName },
    extractable: boolean,
    keyUsages: ('encrypt' | 'decrypt' | 'sign')[],
  ): Promise<CryptoKeyLike>;
  sign(algorithm: 'HMAC', key: CryptoKeyLike, data: Uint8Array<ArrayBuffer>): Promise<ArrayBuffer>;
  encrypt(algorithm: AesGcmParamsLike | AesCtrParamsLike, key: CryptoKeyLike, data: Uint8Array<ArrayBuffer>): Promise<ArrayBuffer>;
  decrypt(algorithm: AesGcmParamsLike, key: CryptoKeyLike, data: Uint8Array<ArrayBuffer>): Promise<ArrayBuffer>;
}

type KeyKind = 'AES-GCM' | 'AES-CTR' | `HMAC ${HashName}`;

/** WebCrypto refuses views on a SharedArrayBuffer; copy those (and only those). */
function own(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
}

function toBytes(buffer: ArrayBuffer): Uint8Array<ArrayBuffer> {
  return new Uint8Array(buffer);
}

/** AES-GCM with SFrame's 16-byte tag. */
function gcmParams(iv: Uint8Array<ArrayBuffer>, additionalData: Uint8Array<ArrayBuffer>): AesGcmParamsLike {
  return { name: 'AES-GCM', iv, additionalData, tagLength: GCM_TAG_LENGTH * 8 };
}

/** OperationError is how WebCrypto says the tag did not verify. */
function isOperationError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'OperationError';
}

/** A rejected AES-GCM decryption: undefined when the tag did not verify; anything else is a bug. */
function unverified(error: unknown): undefined {
  if (isOperationError(error)) return undefined;
  throw error;
}

/** A key's import: its promise, and the key itself once it resolved. */
interface Imported {
  readonly promise: Promise<CryptoKeyLike>;
  key?: CryptoKeyLike;
}

/**
 * SFrameCrypto on WebCrypto. Imported keys are cached per key array (see
 * SFrameCrypto). Each input is read before a method returns, as SFrameCrypto
 * requires: with the key imported, WebCrypto copies its arguments in the
 * call itself; before (a key's first frames), the inputs are copied and the
 * call waits for the import.
 */
export class WebCryptoBackend implements ImportingSFrameCrypto {
  readonly name = 'webcrypto';
  readonly #subtle: SubtleCryptoLike;
  readonly #keys = new WeakMap<Uint8Array, Map<KeyKind, Imported>>();

  /** `subtle` is `globalThis.crypto.subtle` (or `require('node:crypto').webcrypto.subtle`). */
  constructor(subtle: SubtleCryptoLike) {
    this.#subtle = subtle;
  }

  /** HKDF-Extract is HMAC(salt, ikm), RFC 5869 §2.2. */
  hkdfExtract(hash: HashName, salt: Uint8Array, ikm: Uint8Array): Promise<Uint8Array> {
    return this.hmac(hash, salt, ikm);
  }

  hkdfExpand(hash: HashName, prk: Uint8Array, info: Uint8Array, length: number): Promise<Uint8Array> {
    return hkdfExpandWith((h, k, d) => this.hmac(h, k, d), hash, prk, info, length);
  }

  hmac(hash: HashName, key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
    // WebCrypto rejects zero-length HMAC keys; zeros give the same HMAC.
    return this.#with(nonEmptyHmacKey(hash, key), `HMAC ${hash}`, [data], async (cryptoKey, [bytes]) => new Uint8Array(await this.#subtle.sign('HMAC', cryptoKey, bytes)));
  }

  aesGcmSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
    return this.#with(key, 'AES-GCM', [nonce, aad, plaintext], (k, [iv, additionalData, data]) => this.#subtle.encrypt(gcmParams(iv, additionalData), k, data).then(toBytes));
  }

  aesGcmOpen(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array | undefined> {
    if (ciphertext.length < GCM_TAG_LENGTH) return Promise.resolve(undefined);
    return this.#with(key, 'AES-GCM', [nonce, aad, ciphertext], (k, [iv, additionalData, data]) => this.#subtle.decrypt(gcmParams(iv, additionalData), k, data).then(toBytes, unverified));
  }

  /** AES-GCM keys for SFrameContext's per-frame path (ImportingSFrameCrypto): imported once, used without a lookup. */
  async importGcmKey(key: Uint8Array): Promise<ImportedGcmKey> {
    return (await this.#subtle.importKey('raw', new Uint8Array(key), { name: 'AES-GCM' }, false, ['encrypt', 'decrypt'])) as unknown as ImportedGcmKey;
  }

  gcmSeal(key: ImportedGcmKey, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<ArrayBuffer> {
    return this.#subtle.encrypt(gcmParams(own(nonce), own(aad)), key as unknown as CryptoKeyLike, own(plaintext));
  }

  gcmOpen(key: ImportedGcmKey, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Promise<ArrayBuffer> {
    return this.#subtle.decrypt(gcmParams(own(nonce), own(aad)), key as unknown as CryptoKeyLike, own(ciphertext));
  }

  isAuthFailure(error: unknown): boolean {
    return isOperationError(error);
  }

  aesCtr(key: Uint8Array, counter: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
    // RFC 9605 §4.5.1 counts blocks in the low 32 bits (nonce ‖ 0x00000000); a
    // frame would need 64 GiB to wrap them, more than a Uint8Array can hold.
    return this.#with(key, 'AES-CTR', [counter, data], async (cryptoKey, [block, bytes]) => {
      const params: AesCtrParamsLike = { name: 'AES-CTR', counter: block, length: 32 };
      return new Uint8Array(await this.#subtle.encrypt(params, cryptoKey, bytes));
    });
  }

  /**
   * Runs `call` with `raw` imported as `kind` and `inputs` ready for WebCrypto:
   * synchronously when the key is imported already (WebCrypto copies the inputs
   * before it returns), else on copies of the inputs once the import resolves.
   */
  #with<T, const I extends readonly Uint8Array[]>(raw: Uint8Array, kind: KeyKind, inputs: I, call: (key: CryptoKeyLike, inputs: { [K in keyof I]: Uint8Array<ArrayBuffer> }) => Promise<T>): Promise<T> {
    const imported = this.#key(raw, kind);
    if (imported.key !== undefined) return call(imported.key, inputs.map(own) as { [K in keyof I]: Uint8Array<ArrayBuffer> });
    const copies = inputs.map((bytes) => new Uint8Array(bytes)) as { [K in keyof I]: Uint8Array<ArrayBuffer> };
    return imported.promise.then((key) => call(key, copies));
  }

  #key(raw: Uint8Array, kind: KeyKind): Imported {
    let byKind = this.#keys.get(raw);
    if (!byKind) {
      byKind = new Map();
      this.#keys.set(raw, byKind);
    }
    let imported = byKind.get(kind);
    if (!imported) {
      const algorithm = kind === 'AES-GCM' || kind === 'AES-CTR' ? { name: kind } : { name: 'HMAC' as const, hash: kind === 'HMAC SHA-256' ? ('SHA-256' as const) : ('SHA-512' as const) };
      const usages: ('encrypt' | 'decrypt' | 'sign')[] = kind === 'AES-GCM' ? ['encrypt', 'decrypt'] : kind === 'AES-CTR' ? ['encrypt'] : ['sign'];
      const entry: Imported = { promise: this.#subtle.importKey('raw', new Uint8Array(raw), algorithm, false, usages) };
      entry.promise.then(
        (key) => {
          entry.key = key;
        },
        // Do not cache a failed import (e.g. a key of the wrong length): the next call reports it again.
        () => byKind.delete(kind),
      );
      byKind.set(kind, entry);
      imported = entry;
    }
    return imported;
  }
}
