// RFC 9605 test vectors (Appendix C; the JSON file the RFC cites as [TestVectors]),
// read from ../shared/vectors and never copied here, run against both backends.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NodeSFrameCrypto } from '../node/sframe-node-crypto.js';
import { aeadOpen, aeadOpenSync, aeadSeal, aeadSealInto, prepareAeadKey, splitAeadKey } from './aead.js';
import { bigIntToBytes, concatBytes, splitU64 } from './bytes.js';
import { SFrameContext } from './context.js';
import { isSyncSFrameCrypto, type SFrameCrypto, type SyncSFrameCrypto } from './crypto.js';
import { decodeHeader, encodeHeader, readHeader, writeHeader, type HeaderHalves } from './header.js';
import { deriveKeySalt, frameNonce, keyLabel, saltLabel, writeFrameNonce } from './keys.js';
import { getCipherSuite } from './suites.js';
import { WebCryptoBackend } from './webcrypto.js';

const VECTORS = new URL('../../../shared/vectors/sframe/', import.meta.url);

interface HeaderCase { kid: bigint; ctr: bigint; encoded: string }
interface AeadCase { cipher_suite: number; key: string; enc_key: string; auth_key: string; nonce: string; aad: string; pt: string; ct: string }
interface SFrameCase {
  cipher_suite: number; kid: bigint; ctr: bigint; base_key: string; sframe_key_label: string; sframe_salt_label: string;
  sframe_secret: string; sframe_key: string; sframe_salt: string; metadata: string; nonce: string; aad: string; pt: string; ct: string;
}
interface RawCase { kid?: string; ctr?: string }

/**
 * Parses a vector file keeping KID and CTR exact: they reach 2^64 − 1, and a
 * plain JSON.parse rounds everything above 2^53 to a double. Quoting the
 * digits first turns them into strings, which become BigInts.
 */
function readVectors(name: string): Record<string, unknown[]> {
  const text = readFileSync(new URL(name, VECTORS), 'utf8');
  const quoted = text.replace(/("(?:kid|ctr)"\s*:\s*)(\d+)/g, '$1"$2"');
  const parsed = JSON.parse(quoted) as Record<string, RawCase[]>;
  return Object.fromEntries(
    Object.entries(parsed).map(([section, cases]) => [
      section,
      cases.map((c) => ({ ...c, ...(c.kid === undefined ? {} : { kid: BigInt(c.kid) }), ...(c.ctr === undefined ? {} : { ctr: BigInt(c.ctr) }) })),
    ]),
  );
}

const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
const bytes = (text: string): Uint8Array => Uint8Array.from(text.match(/../g) ?? [], (h) => parseInt(h, 16));

const rfc = readVectors('rfc9605-test-vectors.json');
const headerCases = rfc.header as HeaderCase[];
const aeadCases = rfc.aes_ctr_hmac as AeadCase[];
const sframeCases = rfc.sframe as SFrameCase[];
const postRfc = readVectors('post-rfc-3d07d8f/test-vectors.json');
const postRfcAes256 = readVectors('post-rfc-3d07d8f/test-vectors-aes256.json');

const backends: SFrameCrypto[] = [new WebCryptoBackend(globalThis.crypto.subtle), new NodeSFrameCrypto()];
/** The backends with the synchronous capability (node:crypto): the vectors run through encryptSync/decryptSync on them too. */
const syncBackends = backends.filter(isSyncSFrameCrypto);

describe('reading the vectors', () => {
  it('reads all 289 header cases, 3 CTR+HMAC cases and 5 SFrame cases', () => {
    expect(headerCases).toHaveLength(289);
    expect(aeadCases).toHaveLength(3);
    expect(sframeCases).toHaveLength(5);
    expect(headerCases.every((c) => typeof c.kid === 'bigint' && typeof c.ctr === 'bigint')).toBe(true);
  });

  it('needs the exact parse: a plain JSON.parse corrupts 64 header cases', () => {
    const text = readFileSync(new URL('rfc9605-test-vectors.json', VECTORS), 'utf8');
    const plain = (JSON.parse(text) as { header: { kid: number; ctr: number }[] }).header;
    const corrupted = plain.filter((c, i) => {
      const exact = headerCases[i];
      return exact === undefined || BigInt(c.kid) !== exact.kid || BigInt(c.ctr) !== exact.ctr;
    });
    expect(corrupted).toHaveLength(64);
    expect(headerCases.at(-1)).toEqual({ kid: 2n ** 64n - 1n, ctr: 2n ** 64n - 1n, encoded: 'ffffffffffffffffffffffffffffffffff' });
  });
});

describe('header (RFC 9605 §4.3)', () => {
  it.each(headerCases)('KID $kid, CTR $ctr ↔ $encoded', ({ kid, ctr, encoded }) => {
    expect(hex(encodeHeader(kid, ctr))).toBe(encoded);
    // Decoding reads exactly the header, whatever follows it.
    const frame = concatBytes(bytes(encoded), Uint8Array.of(0xde, 0xad));
    expect(decodeHeader(frame)).toEqual({ kid, ctr, length: encoded.length / 2 });
  });

  it.each(headerCases)('per-frame path (32-bit halves): KID $kid, CTR $ctr ↔ $encoded', ({ kid, ctr, encoded }) => {
    const kidOnly = encodeHeader(kid, 0n);
    const [ctrHi, ctrLo] = splitU64(ctr);
    const out = new Uint8Array(19).fill(0xde);
    const length = writeHeader(out, (kidOnly[0] ?? 0) >> 4, kidOnly.subarray(1), ctrHi, ctrLo);
    expect(hex(out.subarray(0, length))).toBe(encoded);
    const h: HeaderHalves = { kidHi: 0, kidLo: 0, ctrHi: 0, ctrLo: 0, length: 0 };
    readHeader(out, h);
    expect(h).toEqual({ kidHi: splitU64(kid)[0], kidLo: splitU64(kid)[1], ctrHi, ctrLo, length: encoded.length / 2 });
  });
});

describe.each(syncBackends)('header vectors through encryptSync/decryptSync on $name', (crypto) => {
  it('every KID and CTR of the 289 header cases: the frame starts with the vector’s header, and decrypts to that KID and CTR', async () => {
    for (const { kid, ctr, encoded } of headerCases) {
      const sender = new SFrameContext({ crypto });
      const receiver = new SFrameContext({ crypto });
      const baseKey = Uint8Array.from({ length: 16 }, (_, i) => i);
      await sender.addEncryptionKey(kid, baseKey, { nextCtr: ctr });
      await receiver.addDecryptionKey(kid, baseKey);
      const frame = sender.encryptSync(kid, Uint8Array.of(1), Uint8Array.of(2, 3));
      expect(hex(frame.subarray(0, encoded.length / 2))).toBe(encoded);
      const out = receiver.decryptSync(Uint8Array.of(1), frame);
      expect([out.kid, out.ctr, hex(out.plaintext)]).toEqual([kid, ctr, '0203']);
    }
  });
});

describe.each(backends)('aes_ctr_hmac (RFC 9605 §4.5.1) on $name', (crypto) => {
  it.each(aeadCases)('suite $cipher_suite', async (c) => {
    const suite = getCipherSuite(c.cipher_suite);
    const key = splitAeadKey(suite, bytes(c.key));
    expect(hex(key.encKey)).toBe(c.enc_key);
    expect(hex(key.authKey)).toBe(c.auth_key);
    expect(hex(await aeadSeal(crypto, suite, key, bytes(c.nonce), bytes(c.aad), bytes(c.pt)))).toBe(c.ct);
    const opened = await aeadOpen(crypto, suite, key, bytes(c.nonce), bytes(c.aad), bytes(c.ct));
    expect(opened && hex(opened)).toBe(c.pt);
    const forged = bytes(c.ct);
    forged[forged.length - 1] = (forged.at(-1) ?? 0) ^ 1;
    expect(await aeadOpen(crypto, suite, key, bytes(c.nonce), bytes(c.aad), forged)).toBeUndefined();
    if (isSyncSFrameCrypto(crypto)) checkAeadSync(crypto, c, forged);
  });

  it('the tag covers len(AAD) ‖ len(CT) ‖ Nt ‖ nonce ‖ AAD ‖ CT, all three lengths', async () => {
    // §4.5.1 compute_tag includes tag_len; a tag without it does not match the vectors.
    for (const c of aeadCases) {
      const suite = getCipherSuite(c.cipher_suite);
      const ct = bytes(c.ct).subarray(0, bytes(c.ct).length - suite.nt);
      const u64 = (n: number): Uint8Array => bigIntToBytes(BigInt(n), 8);
      const mac = async (...parts: Uint8Array[]): Promise<string> => hex((await crypto.hmac('SHA-256', bytes(c.auth_key), concatBytes(...parts))).subarray(0, suite.nt));
      const expected = c.ct.slice(-2 * suite.nt);
      expect(await mac(u64(bytes(c.aad).length), u64(ct.length), u64(suite.nt), bytes(c.nonce), bytes(c.aad), ct)).toBe(expected);
      expect(await mac(u64(bytes(c.aad).length), u64(ct.length), bytes(c.nonce), bytes(c.aad), ct)).not.toBe(expected);
    }
  });
});

/** One AEAD vector through aeadSealInto/aeadOpenSync (prepared keys, the ciphertext written after a prefix). */
function checkAeadSync(crypto: SyncSFrameCrypto, c: AeadCase, forged: Uint8Array): void {
  const suite = getCipherSuite(c.cipher_suite, { allowDraft: true });
  const key = prepareAeadKey(crypto, suite, splitAeadKey(suite, bytes(c.key)));
  const out = new Uint8Array(3 + bytes(c.ct).length).fill(0xee);
  aeadSealInto(crypto, suite, key, bytes(c.nonce), bytes(c.aad), bytes(c.pt), out, 3);
  expect(hex(out)).toBe(`eeeeee${c.ct}`);
  const opened = aeadOpenSync(crypto, suite, key, bytes(c.nonce), bytes(c.aad), bytes(c.ct));
  expect(opened && hex(opened)).toBe(c.pt);
  expect(aeadOpenSync(crypto, suite, key, bytes(c.nonce), bytes(c.aad), forged)).toBeUndefined();
}

/** Every step of one full SFrame vector: labels, derivation, nonce, AAD, then encrypt and decrypt through a context. */
async function checkSFrameCase(crypto: SFrameCrypto, c: SFrameCase): Promise<void> {
  const suite = getCipherSuite(c.cipher_suite, { allowDraft: true });
  expect(hex(keyLabel(c.kid, suite))).toBe(c.sframe_key_label);
  expect(hex(saltLabel(c.kid, suite))).toBe(c.sframe_salt_label);
  const derived = await deriveKeySalt(crypto, suite, c.kid, bytes(c.base_key));
  expect(hex(derived.secret)).toBe(c.sframe_secret);
  expect(hex(derived.key)).toBe(c.sframe_key);
  expect(hex(derived.salt)).toBe(c.sframe_salt);
  expect(hex(frameNonce(derived.salt, c.ctr))).toBe(c.nonce);
  expect(hex(concatBytes(encodeHeader(c.kid, c.ctr), bytes(c.metadata)))).toBe(c.aad);

  const options = { crypto, suite: c.cipher_suite, allowDraftSuites: true };
  const sender = new SFrameContext(options);
  await sender.addEncryptionKey(c.kid, bytes(c.base_key), { nextCtr: c.ctr });
  expect(hex(await sender.encrypt(c.kid, bytes(c.metadata), bytes(c.pt)))).toBe(c.ct);
  expect(sender.nextCounter(c.kid)).toBe(c.ctr + 1n);

  const receiver = new SFrameContext(options);
  await receiver.addDecryptionKey(c.kid, bytes(c.base_key));
  const frame = await receiver.decrypt(bytes(c.metadata), bytes(c.ct));
  expect({ kid: frame.kid, ctr: frame.ctr, pt: hex(frame.plaintext) }).toEqual({ kid: c.kid, ctr: c.ctr, pt: c.pt });
  if (!isSyncSFrameCrypto(crypto)) return;

  // The synchronous path: the nonce written over a copy of the salt, then encryptSync and decryptSync.
  const [hi, lo] = splitU64(c.ctr);
  expect(hex(writeFrameNonce(derived.salt.slice(), derived.salt, hi, lo))).toBe(c.nonce);
  const syncSender = new SFrameContext(options);
  await syncSender.addEncryptionKey(c.kid, bytes(c.base_key), { nextCtr: c.ctr });
  expect(hex(syncSender.encryptSync(c.kid, bytes(c.metadata), bytes(c.pt)))).toBe(c.ct);
  expect(syncSender.nextCounter(c.kid)).toBe(c.ctr + 1n);
  const syncReceiver = new SFrameContext(options);
  await syncReceiver.addDecryptionKey(c.kid, bytes(c.base_key));
  const syncFrame = syncReceiver.decryptSync(bytes(c.metadata), bytes(c.ct));
  expect({ kid: syncFrame.kid, ctr: syncFrame.ctr, pt: hex(syncFrame.plaintext) }).toEqual({ kid: c.kid, ctr: c.ctr, pt: c.pt });
  expect(() => syncReceiver.decryptSync(bytes(c.metadata), bytes(c.ct))).toThrow(expect.objectContaining({ code: 'SFRAME_REPLAY' }));
}

describe.each(backends)('sframe (RFC 9605 §4.4) on $name', (crypto) => {
  it.each(sframeCases)('suite $cipher_suite, KID $kid, CTR $ctr', (c) => checkSFrameCase(crypto, c));
});

// Suites 6–8 (AES-256-CTR + HMAC-SHA512) are an editors'-repo addition after the
// RFC, not IANA-registered; they run here as DRAFT_CIPHER_SUITES (opt-in).
describe('post-RFC vectors (sframe-wg/sframe 3d07d8f)', () => {
  it('repeat the RFC sections unchanged', () => {
    expect(postRfc.header).toEqual(rfc.header);
    expect(postRfc.aes_ctr_hmac).toEqual(rfc.aes_ctr_hmac);
    expect(postRfc.sframe).toEqual(rfc.sframe);
    expect(postRfc.aes_256_ctr_hmac).toHaveLength(3);
    expect(postRfcAes256.sframe_aes_256_ctr_hmac).toHaveLength(3);
  });

  describe.each(backends)('on $name', (crypto) => {
    it.each(postRfc.aes_256_ctr_hmac as AeadCase[])('aes_256_ctr_hmac suite $cipher_suite', async (c) => {
      const suite = getCipherSuite(c.cipher_suite, { allowDraft: true });
      const key = splitAeadKey(suite, bytes(c.key));
      expect([hex(key.encKey), hex(key.authKey)]).toEqual([c.enc_key, c.auth_key]);
      expect(hex(await aeadSeal(crypto, suite, key, bytes(c.nonce), bytes(c.aad), bytes(c.pt)))).toBe(c.ct);
      const opened = await aeadOpen(crypto, suite, key, bytes(c.nonce), bytes(c.aad), bytes(c.ct));
      expect(opened && hex(opened)).toBe(c.pt);
      const forged = bytes(c.ct);
      forged[0] = (forged[0] ?? 0) ^ 1;
      if (isSyncSFrameCrypto(crypto)) checkAeadSync(crypto, c, forged);
    });

    it.each(postRfcAes256.sframe_aes_256_ctr_hmac as SFrameCase[])('sframe_aes_256_ctr_hmac suite $cipher_suite', (c) => checkSFrameCase(crypto, c));
  });
});
