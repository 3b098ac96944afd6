/**
 * The official MLS interop vectors (mlswg/mls-implementations test-vectors/):
 * their case types, how many we expect, and how to read them from
 * ../shared/vectors/mls (never copied here). Used by mls-vectors.test.ts.
 */
import { readFileSync } from 'node:fs';
import { hexToBytes } from '@noble/hashes/utils.js';
import { getCiphersuiteNameFromId } from 'ts-mls/crypto/ciphersuite.js';
import type { GroupContext } from 'ts-mls/groupContext.js';

/** MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, the suite geobridge uses. */
export const SUITE = 1;
export const SUITE_NAME = getCiphersuiteNameFromId(SUITE);

/**
 * Cases per file: all of them for the suite-less files, else those for suite 1.
 * The same numbers are in docs/mls-vectors.md; a change to either is a change
 * to what we claim is checked.
 */
export const EXPECTED_CASES = {
  'tree-math': 10,
  deserialization: 14,
  messages: 300,
  'crypto-basics': 1,
  'key-schedule': 1,
  'secret-tree': 3,
  'psk_secret': 11,
  'transcript-hashes': 1,
  'message-protection': 1,
  welcome: 1,
  'tree-operations': 5,
  'passive-client-welcome': 8,
} as const;
export type VectorFile = keyof typeof EXPECTED_CASES;
/** messages.json mixes suites 1-3 in equal parts; the KeyPackages of suite 1 get their signature checked. */
export const MESSAGES_SUITE_1_KEY_PACKAGES = 100;

/** Reads one vector file (a JSON array) from ../shared/vectors/mls. */
export function readVectors<T>(file: VectorFile): T[] {
  const parsed: unknown = JSON.parse(readFileSync(new URL(`../../../shared/vectors/mls/${file}.json`, import.meta.url), 'utf8'));
  if (!Array.isArray(parsed)) throw new Error(`${file}.json is not an array`);
  return parsed as T[];
}

/** The cases of one vector file for our suite. */
export function suiteCases<T extends { cipher_suite: number }>(file: VectorFile): T[] {
  return readVectors<T>(file).filter((c) => c.cipher_suite === SUITE);
}

/** The value, or a test failure naming what was missing (no non-null assertions). */
export function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`missing: ${what}`);
  return value;
}

/** The GroupContext with empty extensions that several vector files describe (RFC 9420 §8.1). */
export function groupContext(groupId: string, epoch: number, treeHash: string, confirmedTranscriptHash: string): GroupContext {
  return {
    version: 'mls10',
    cipherSuite: SUITE_NAME,
    groupId: hexToBytes(groupId),
    epoch: BigInt(epoch),
    treeHash: hexToBytes(treeHash),
    confirmedTranscriptHash: hexToBytes(confirmedTranscriptHash),
    extensions: [],
  };
}

export interface TreeMathCase { n_leaves: number; n_nodes: number; root: number; left: (number | null)[]; right: (number | null)[]; parent: (number | null)[]; sibling: (number | null)[] }

export interface DeserializationCase { vlbytes_header: string; length: number }

export interface MessagesCase {
  mls_welcome: string; mls_group_info: string; mls_key_package: string; ratchet_tree: string; group_secrets: string;
  add_proposal: string; update_proposal: string; remove_proposal: string; pre_shared_key_proposal: string; re_init_proposal: string;
  external_init_proposal: string; group_context_extensions_proposal: string; commit: string;
  public_message_application: string; public_message_proposal: string; public_message_commit: string; private_message: string;
}

export interface CryptoBasicsCase {
  cipher_suite: number;
  ref_hash: { label: string; value: string; out: string };
  expand_with_label: { secret: string; label: string; context: string; length: number; out: string };
  derive_secret: { secret: string; label: string; out: string };
  derive_tree_secret: { secret: string; label: string; generation: number; length: number; out: string };
  sign_with_label: { priv: string; pub: string; content: string; label: string; signature: string };
  encrypt_with_label: { priv: string; pub: string; label: string; context: string; plaintext: string; kem_output: string; ciphertext: string };
}

export interface KeyScheduleEpoch {
  tree_hash: string; commit_secret: string; psk_secret: string; confirmed_transcript_hash: string; group_context: string;
  joiner_secret: string; welcome_secret: string; init_secret: string; sender_data_secret: string; encryption_secret: string;
  exporter_secret: string; epoch_authenticator: string; external_secret: string; confirmation_key: string; membership_key: string;
  resumption_psk: string; external_pub: string; exporter: { label: string; context: string; length: number; secret: string };
}
export interface KeyScheduleCase { cipher_suite: number; group_id: string; initial_init_secret: string; epochs: KeyScheduleEpoch[] }

export interface SecretTreeGeneration { generation: number; handshake_key: string; handshake_nonce: string; application_key: string; application_nonce: string }
export interface SecretTreeCase {
  cipher_suite: number;
  encryption_secret: string;
  sender_data: { sender_data_secret: string; ciphertext: string; key: string; nonce: string };
  leaves: SecretTreeGeneration[][];
}

export interface PskSecretCase { cipher_suite: number; psks: { psk_id: string; psk: string; psk_nonce: string }[]; psk_secret: string }

export interface TranscriptHashesCase {
  cipher_suite: number; confirmation_key: string; authenticated_content: string;
  interim_transcript_hash_before: string; confirmed_transcript_hash_after: string; interim_transcript_hash_after: string;
}

export interface MessageProtectionCase {
  cipher_suite: number; group_id: string; epoch: number; tree_hash: string; confirmed_transcript_hash: string;
  signature_priv: string; signature_pub: string; encryption_secret: string; sender_data_secret: string; membership_key: string;
  proposal: string; proposal_pub: string; proposal_priv: string; commit: string; commit_pub: string; commit_priv: string;
  application: string; application_priv: string;
}

export interface WelcomeCase { cipher_suite: number; init_priv: string; signer_pub: string; key_package: string; welcome: string }

export interface TreeOperationsCase {
  cipher_suite: number; tree_before: string; tree_hash_before: string; proposal: string; proposal_sender: number;
  tree_after: string; tree_hash_after: string;
}

export interface PassiveClientCase {
  cipher_suite: number; key_package: string; signature_priv: string; encryption_priv: string; init_priv: string;
  welcome: string; ratchet_tree: string | null; initial_epoch_authenticator: string;
  external_psks: { psk_id: string; psk: string }[];
  epochs: { proposals: string[]; commit: string; epoch_authenticator: string }[];
}
