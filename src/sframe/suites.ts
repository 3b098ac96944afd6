/**
 * SFrame cipher suites, RFC 9605 §4.5 (constants) and §8.1 (IANA values).
 * Suites 6–8 (AES-256-CTR + HMAC-SHA512) come from the SFrame editors'
 * repository after the RFC and are not IANA-registered: they are opt-in.
 */
import { SFrameError } from './errors.js';

/** The hash behind HKDF (and HMAC for the CTR suites). */
export type HashName = 'SHA-256' | 'SHA-512';

/** How a suite encrypts: AES-GCM, or the AES-CTR + HMAC compound AEAD of §4.5.1. */
export type AeadKind = 'AES-GCM' | 'AES-CTR-HMAC';

/** One cipher suite with the constants of RFC 9605 §4.4 (all sizes in bytes). */
export interface CipherSuite {
  /** The 2-byte IANA value. */
  readonly id: number;
  readonly name: string;
  readonly hash: HashName;
  readonly aead: AeadKind;
  /** Hash.Nh: hash output size. */
  readonly nh: number;
  /** AEAD.Nka: AES key size inside the compound AEAD; undefined for AES-GCM. */
  readonly nka: number | undefined;
  /** AEAD.Nk: AEAD key size (Nka + Nh for the compound AEAD). */
  readonly nk: number;
  /** AEAD.Nn: nonce size. */
  readonly nn: number;
  /** AEAD.Nt: tag size, the ciphertext overhead. */
  readonly nt: number;
  /** True for the five suites registered by RFC 9605. */
  readonly registered: boolean;
}

/** IANA value of AES_128_CTR_HMAC_SHA256_80. */
export const AES_128_CTR_HMAC_SHA256_80 = 0x0001;
/** IANA value of AES_128_CTR_HMAC_SHA256_64. */
export const AES_128_CTR_HMAC_SHA256_64 = 0x0002;
/** IANA value of AES_128_CTR_HMAC_SHA256_32. */
export const AES_128_CTR_HMAC_SHA256_32 = 0x0003;
/** IANA value of AES_128_GCM_SHA256_128, geobridge's default. */
export const AES_128_GCM_SHA256_128 = 0x0004;
/** IANA value of AES_256_GCM_SHA512_128. */
export const AES_256_GCM_SHA512_128 = 0x0005;

/** The suite geobridge uses unless told otherwise: a full 128-bit tag, AES-GCM everywhere. */
export const DEFAULT_CIPHER_SUITE = AES_128_GCM_SHA256_128;

function ctrHmac(id: number, name: string, aesKey: number, hash: HashName, nt: number, registered: boolean): CipherSuite {
  const nh = hash === 'SHA-256' ? 32 : 64;
  return Object.freeze({ id, name, hash, aead: 'AES-CTR-HMAC', nh, nka: aesKey, nk: aesKey + nh, nn: 12, nt, registered });
}

function gcm(id: number, name: string, aesKey: number, hash: HashName): CipherSuite {
  return Object.freeze({ id, name, hash, aead: 'AES-GCM', nh: hash === 'SHA-256' ? 32 : 64, nka: undefined, nk: aesKey, nn: 12, nt: 16, registered: true });
}

/** The five suites of RFC 9605 §4.5, Table 1, by IANA value. */
export const CIPHER_SUITES: ReadonlyMap<number, CipherSuite> = new Map([
  [0x0001, ctrHmac(0x0001, 'AES_128_CTR_HMAC_SHA256_80', 16, 'SHA-256', 10, true)],
  [0x0002, ctrHmac(0x0002, 'AES_128_CTR_HMAC_SHA256_64', 16, 'SHA-256', 8, true)],
  [0x0003, ctrHmac(0x0003, 'AES_128_CTR_HMAC_SHA256_32', 16, 'SHA-256', 4, true)],
  [0x0004, gcm(0x0004, 'AES_128_GCM_SHA256_128', 16, 'SHA-256')],
  [0x0005, gcm(0x0005, 'AES_256_GCM_SHA512_128', 32, 'SHA-512')],
]);

/**
 * Suites 6–8 of the editors' repository (commit 3d07d8f, 2025): the §4.5.1
 * compound AEAD with AES-256 and HMAC-SHA512. Not in the IANA registry, so
 * IANA could assign these values to something else; use only by agreement.
 */
export const DRAFT_CIPHER_SUITES: ReadonlyMap<number, CipherSuite> = new Map([
  [0x0006, ctrHmac(0x0006, 'AES_256_CTR_HMAC_SHA512_80', 32, 'SHA-512', 10, false)],
  [0x0007, ctrHmac(0x0007, 'AES_256_CTR_HMAC_SHA512_64', 32, 'SHA-512', 8, false)],
  [0x0008, ctrHmac(0x0008, 'AES_256_CTR_HMAC_SHA512_32', 32, 'SHA-512', 4, false)],
]);

/** The suite with IANA value `id`; draft suites 6–8 only with `allowDraft`. Throws SFRAME_BAD_SUITE. */
export function getCipherSuite(id: number, options: { allowDraft?: boolean } = {}): CipherSuite {
  const suite = CIPHER_SUITES.get(id) ?? (options.allowDraft === true ? DRAFT_CIPHER_SUITES.get(id) : undefined);
  if (suite) return suite;
  const hint = DRAFT_CIPHER_SUITES.has(id) ? ' It is a draft suite outside RFC 9605; pass allowDraftSuites to use it.' : '';
  throw new SFrameError('SFRAME_BAD_SUITE', `Unknown SFrame cipher suite ${String(id)}; RFC 9605 defines 1–5.${hint}`);
}
