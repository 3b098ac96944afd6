/**
 * Bridge identities as the broker configures them: each datacenter is bound
 * to one Ed25519 public key (and optionally the signalling URL it must
 * announce). Its bridge signs every message with the private half
 * (src/protocol/bridge-message.ts has the format and the verifier).
 */
import { base64url, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { GeobridgeError } from '../core/errors.js';
import { isCanonicalCompactJws } from '../protocol/compact-jws.js';

/** A bridge public key as configured: base64url of the raw 32-byte Ed25519 key, or a public JWK. */
export type BridgePublicKeyConfig = string | JWK;

const ED25519_KEY_BYTES = 32;

function keyError(datacenter: string, why: string, cause?: unknown): GeobridgeError {
  return new GeobridgeError(
    'BRIDGE_KEY_INVALID',
    `The public key configured for datacenter '${datacenter}' is unusable: ${why}. Configure the 43-character base64url public key printed when the bridge identity was generated.`,
    { cause },
  );
}

/** Imports one configured bridge public key; throws BRIDGE_KEY_INVALID. */
export async function importBridgePublicKey(datacenter: string, config: BridgePublicKeyConfig): Promise<CryptoKey> {
  let jwk: JWK;
  if (typeof config === 'string') {
    if (!isCanonicalCompactJws(config, 1) || base64url.decode(config).length !== ED25519_KEY_BYTES) {
      throw keyError(datacenter, 'not base64url of 32 bytes');
    }
    jwk = { kty: 'OKP', crv: 'Ed25519', x: config };
  } else {
    // YAML gives null for `us-east:` with no value, numbers and lists for typos.
    const shape: unknown = config;
    if (typeof shape !== 'object' || shape === null || Array.isArray(shape)) throw keyError(datacenter, 'it is neither a base64url public key nor an Ed25519 (OKP) JWK');
    // A private key in the broker's configuration is a leak waiting to happen.
    if (config.d !== undefined) throw keyError(datacenter, 'the JWK contains a private key (d); configure the public part only');
    if (config.kty !== 'OKP' || config.crv !== 'Ed25519' || typeof config.x !== 'string') throw keyError(datacenter, 'not an Ed25519 (OKP) JWK');
    jwk = { kty: 'OKP', crv: 'Ed25519', x: config.x };
  }
  try {
    const key = await importJWK(jwk, 'EdDSA');
    if (key instanceof Uint8Array) throw new TypeError('symmetric key');
    return key;
  } catch (cause) {
    throw keyError(datacenter, 'it does not import as an Ed25519 key', cause);
  }
}

/** Imports the configured keys of every datacenter; throws BRIDGE_KEY_INVALID naming the first bad one. */
export async function importBridgePublicKeys(config: Readonly<Record<string, BridgePublicKeyConfig>>): Promise<Map<string, CryptoKey>> {
  const entries = await Promise.all(Object.entries(config).map(async ([dc, key]) => [dc, await importBridgePublicKey(dc, key)] as const));
  return new Map(entries);
}

/** A datacenter's bridge as configured: its key, and optionally the signalling URL it must announce. */
export type BridgeIdentityConfig = BridgePublicKeyConfig | { readonly key: BridgePublicKeyConfig; readonly url?: string };

/** The bridges the broker knows: keys to verify them, public JWKs to publish, bound signalling URLs. */
export interface BridgeIdentities {
  readonly keys: ReadonlyMap<string, CryptoKey>;
  readonly jwks: Readonly<Record<string, JWK>>;
  readonly urls: ReadonlyMap<string, string>;
}

/** Imports every configured bridge; throws BRIDGE_KEY_INVALID or BRIDGE_URL_INVALID naming the first bad one. */
export async function importBridgeIdentities(config: Readonly<Record<string, BridgeIdentityConfig>>): Promise<BridgeIdentities> {
  const keys = new Map<string, CryptoKey>();
  const jwks: Record<string, JWK> = {};
  const urls = new Map<string, string>();
  for (const [dc, entry] of Object.entries(config)) {
    // The file's YAML may give null (`us-east:` with no value): not an object with a key.
    const key = isBound(entry) ? entry.key : entry;
    keys.set(dc, await importBridgePublicKey(dc, key));
    jwks[dc] = { kty: 'OKP', crv: 'Ed25519', x: typeof key === 'string' ? key : String(key.x) };
    const url = isBound(entry) ? entry.url : undefined;
    if (url === undefined) continue;
    if (typeof url !== 'string' || !/^wss?:\/\/\S+$/.test(url) || !URL.canParse(url)) {
      throw new GeobridgeError('BRIDGE_URL_INVALID', `The signalling URL configured for datacenter '${dc}' is not a ws:// or wss:// URL: ${JSON.stringify(url)}.`);
    }
    urls.set(dc, url);
  }
  return { keys, jwks, urls };
}

/** Whether a configured entry is `{ key, url }` rather than the key alone (null, from YAML's `us-east:`, is neither). */
function isBound(entry: BridgeIdentityConfig): entry is Extract<BridgeIdentityConfig, { readonly key: BridgePublicKeyConfig }> {
  const value: unknown = entry;
  return typeof value === 'object' && value !== null && 'key' in value;
}

/** Generates a bridge identity: the public key to configure on the broker, and the private JWK the bridge keeps. */
export async function generateBridgeIdentity(): Promise<{ publicKey: string; privateJwk: JWK }> {
  const pair = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const { x, d } = await exportJWK(pair.privateKey);
  if (x === undefined || d === undefined) throw new TypeError('WebCrypto exported an Ed25519 key without x or d');
  return { publicKey: x, privateJwk: { kty: 'OKP', crv: 'Ed25519', x, d } };
}

