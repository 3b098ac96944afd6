/**
 * One MLS group (RFC 9420) per meeting, in cipher suite 1
 * (MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519), through ts-mls. A group is
 * an immutable value: every operation returns a new one. A commit is a
 * *draft* until the delivery service accepts it (delivery.ts): keep the old
 * group until then, because a rejected commit must not be applied (§14).
 *
 * Messages travel as encoded MLSMessage bytes; handshake messages are
 * PrivateMessages, so the delivery service sees only group id, epoch and
 * content type.
 */
import {
  acceptAll, createCommit, createGroup, decodeMlsMessage, defaultCapabilities, defaultKeyPackageEqualityConfig, defaultKeyRetentionConfig,
  defaultLifetime, defaultLifetimeConfig, defaultPaddingConfig, emptyPskIndex, encodeMlsMessage, generateKeyPackageWithKey, getCiphersuiteFromName,
  getCiphersuiteImpl, joinGroup, mlsExporter, processMessage, type AuthenticationService, type CiphersuiteImpl, type ClientConfig, type ClientState,
  type CryptoProvider, type KeyPackage, type MLSMessage, type PrivateKeyPackage, type Proposal,
} from 'ts-mls';
import { GeobridgeError } from '../core/errors.js';
import { sameBytes } from './bytes.js';
import { DEFAULT_CIPHER_SUITE, getCipherSuite } from '../sframe/index.js';
import { credentialProblem, identityOf, keyFingerprint, withCredentialCheck, type CredentialPolicy, type MemberIdentity } from './identity.js';
import type { EpochKeys, FrameLayout } from './kid.js';

/** The MLS cipher suite of every meeting group. */
export const MLS_CIPHER_SUITE = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';

/**
 * An MLS extension type from the private-use range (RFC 9420 §17.3,
 * 0xF000–0xFFFF) that a member lists among its leaf's capabilities to say
 * that it reads SFrame video frames in the 'whole' layout (kid.ts
 * `FrameLayout`). It is never sent as an extension, only advertised.
 */
export const WHOLE_FRAME_CAPABILITY = 0xf9b1;

/** RFC 9605 §5.2's exporter label for the SFrame base key. */
export const SFRAME_EXPORTER_LABEL = 'SFrame 1.0 Base Key';

/** The cipher suite implementation; pass `nobleCryptoProvider` where WebCrypto lacks X25519/Ed25519. */
export function loadCipherSuite(provider?: CryptoProvider): Promise<CiphersuiteImpl> {
  return getCiphersuiteImpl(getCiphersuiteFromName(MLS_CIPHER_SUITE), provider);
}

/** The MLS group id of a meeting, so the delivery service can tell a meeting's messages from another's. */
export function groupIdOf(meeting: string): Uint8Array {
  return new TextEncoder().encode(`geobridge meeting ${meeting}`);
}

/** A meeting's group as one member holds it. */
export interface MeetingGroup {
  readonly meeting: string;
  readonly state: ClientState;
  readonly cs: CiphersuiteImpl;
  readonly policy: CredentialPolicy;
}

/** A key package and its private keys. Send `encodeKeyPackage(bundle)`; keep the bundle to join. */
export interface KeyPackageBundle {
  readonly publicPackage: KeyPackage;
  readonly privatePackage: PrivateKeyPackage;
}

/**
 * A commit not yet accepted by the delivery service. Send `commit` (and
 * `welcome` for the added members) together; once accepted, `group` is the
 * sender's new group; once rejected, drop the draft and keep the old group.
 */
export interface CommitDraft {
  /** The epoch the commit is for (the group's epoch before it). */
  readonly epoch: bigint;
  readonly commit: Uint8Array;
  readonly welcome: Uint8Array | undefined;
  readonly group: MeetingGroup;
}

/** What an incoming handshake message did. */
export type Processed =
  | { readonly kind: 'commit'; readonly group: MeetingGroup; readonly removed: boolean }
  | { readonly kind: 'proposal'; readonly group: MeetingGroup };

/** A member of the group, read from its leaf (credentials were checked when the leaf entered). */
export interface Member {
  readonly leafIndex: number;
  /** The participant id the broker's identity assertion names (`sub`). */
  readonly participant: string;
  /** The display name the assertion names. */
  readonly name: string;
  /** `keyFingerprint` of the leaf's signature key: tells apart two leaves that claim one participant. */
  readonly keyFingerprint: string;
}

/**
 * Keys of the two epochs before the current one are kept, to read
 * application messages (chat) sent just before a commit, or a removal and
 * an add in a row (application.ts); ts-mls's default of four would keep
 * past keys longer than the delivery service relays them (delivery.ts).
 */
export const RETAINED_PAST_EPOCHS = 2;

function clientConfig(auth: AuthenticationService): ClientConfig {
  return {
    keyRetentionConfig: { ...defaultKeyRetentionConfig, retainKeysForEpochs: RETAINED_PAST_EPOCHS },
    lifetimeConfig: defaultLifetimeConfig,
    keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
    paddingConfig: defaultPaddingConfig,
    authService: auth,
  };
}

/** The state with `auth` as its credential check for the next ts-mls call. */
function withAuth(state: ClientState, auth: AuthenticationService): ClientState {
  return { ...state, clientConfig: { ...state.clientConfig, authService: auth } };
}

/** Exactly one MLSMessage filling `bytes`, or undefined (never throws): for the delivery rule and application messages. */
export function decodeWholeMessage(bytes: Uint8Array): MLSMessage | undefined {
  try {
    const decoded = decodeMlsMessage(bytes, 0);
    return decoded !== undefined && decoded[1] === bytes.length ? decoded[0] : undefined;
  } catch {
    return undefined;
  }
}

function decode(bytes: Uint8Array, what: string): MLSMessage {
  let decoded: [MLSMessage, number] | undefined;
  try {
    decoded = decodeMlsMessage(bytes, 0);
  } catch (error) {
    throw new GeobridgeError('MLS_MESSAGE_REJECTED', `The ${what} is not an MLS message.`, { cause: error });
  }
  if (decoded === undefined || decoded[1] !== bytes.length) throw new GeobridgeError('MLS_MESSAGE_REJECTED', `The ${what} is not one well-formed MLS message.`);
  return decoded[0];
}

/** Throws MLS_NOT_A_MEMBER unless this member is still in the group. */
export function checkActive(group: MeetingGroup): void {
  if (group.state.groupActiveState.kind !== 'active') {
    throw new GeobridgeError('MLS_NOT_A_MEMBER', `This member is no longer in the meeting's group (${group.state.groupActiveState.kind}).`);
  }
}

/** Makes a key package for `identity`, with its own signature key pair (the one the broker's assertion names). */
export function createKeyPackage(identity: MemberIdentity, cs: CiphersuiteImpl): Promise<KeyPackageBundle> {
  const capabilities = defaultCapabilities();
  return generateKeyPackageWithKey(identity.credential, { ...capabilities, extensions: [...capabilities.extensions, WHOLE_FRAME_CAPABILITY] }, defaultLifetime, [], identity.signatureKeyPair, cs);
}

/** The key package as an MLSMessage, for the delivery service to relay to a member who adds it. */
export function encodeKeyPackage(bundle: KeyPackageBundle): Uint8Array {
  return encodeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: bundle.publicPackage });
}

/** Creates the meeting's group with its first member, at epoch 0. Throws MLS_CREDENTIAL_REJECTED if the member's own credential fails. */
export async function createMeetingGroup(policy: CredentialPolicy, member: KeyPackageBundle, cs: CiphersuiteImpl): Promise<MeetingGroup> {
  const leaf = member.publicPackage.leafNode;
  const problem = await credentialProblem(policy, leaf.credential, leaf.signaturePublicKey);
  if (problem !== undefined) throw new GeobridgeError('MLS_CREDENTIAL_REJECTED', `Our own credential was rejected: ${problem}.`);
  const state = await withCredentialCheck(
    policy,
    (auth) => createGroup(groupIdOf(policy.meeting), member.publicPackage, member.privatePackage, [], cs, clientConfig(auth)),
    (detail, cause) => new GeobridgeError('MLS_COMMIT_FAILED', `Cannot create the group: ${detail}.`, { cause }),
  );
  return { meeting: policy.meeting, state, cs, policy };
}

/**
 * Joins from a Welcome (which carries the ratchet tree). Every leaf of the
 * tree must pass the credential check, the inviter's included. Throws
 * MLS_CREDENTIAL_REJECTED or MLS_WELCOME_REJECTED.
 */
export async function joinFromWelcome(policy: CredentialPolicy, welcome: Uint8Array, member: KeyPackageBundle, cs: CiphersuiteImpl): Promise<MeetingGroup> {
  const message = decode(welcome, 'welcome');
  if (message.wireformat !== 'mls_welcome') throw new GeobridgeError('MLS_WELCOME_REJECTED', `Expected a Welcome, got ${message.wireformat}.`);
  const state = await withCredentialCheck(
    policy,
    (auth) => joinGroup(message.welcome, member.publicPackage, member.privatePackage, emptyPskIndex, cs, undefined, undefined, clientConfig(auth)),
    (detail, cause) => new GeobridgeError('MLS_WELCOME_REJECTED', `Cannot join from this Welcome: ${detail}.`, { cause }),
  );
  if (!sameBytes(state.groupContext.groupId, groupIdOf(policy.meeting))) {
    throw new GeobridgeError('MLS_WELCOME_REJECTED', `The Welcome is for another group than meeting '${policy.meeting}'.`);
  }
  return { meeting: policy.meeting, state, cs, policy };
}

async function commit(group: MeetingGroup, proposals: Proposal[]): Promise<CommitDraft> {
  checkActive(group);
  const result = await withCredentialCheck(
    group.policy,
    (auth) => createCommit({ state: withAuth(group.state, auth), cipherSuite: group.cs }, { extraProposals: proposals, ratchetTreeExtension: true }),
    (detail, cause) => new GeobridgeError('MLS_COMMIT_FAILED', `Cannot create the commit: ${detail}.`, { cause }),
  );
  return {
    epoch: group.state.groupContext.epoch,
    commit: encodeMlsMessage(result.commit),
    welcome: result.welcome === undefined ? undefined : encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome: result.welcome }),
    group: { ...group, state: result.newState },
  };
}

/** Commits adding the members of these encoded key packages; the draft's welcome is for them. Their credentials are checked. */
export async function addMembers(group: MeetingGroup, keyPackages: readonly Uint8Array[]): Promise<CommitDraft> {
  const proposals = keyPackages.map((bytes): Proposal => {
    const message = decode(bytes, 'key package');
    if (message.wireformat !== 'mls_key_package') throw new GeobridgeError('MLS_MESSAGE_REJECTED', `Expected a KeyPackage, got ${message.wireformat}.`);
    return { proposalType: 'add', add: { keyPackage: message.keyPackage } };
  });
  return commit(group, proposals);
}

/** Commits removing the members at these leaf indices (see `members`); they cannot derive the next epoch's keys. */
export function removeMembers(group: MeetingGroup, leafIndices: readonly number[]): Promise<CommitDraft> {
  return commit(group, leafIndices.map((removed): Proposal => ({ proposalType: 'remove', remove: { removed } })));
}

/** Commits the proposals received so far (none: a path update, which also refreshes this member's keys). */
export function commitPending(group: MeetingGroup): Promise<CommitDraft> {
  return commit(group, []);
}

/**
 * Processes a commit or proposal from another member, relayed by the
 * delivery service. Throws MLS_MESSAGE_REJECTED (wrong epoch, not from a
 * member, tampered), MLS_CREDENTIAL_REJECTED (it adds or updates a leaf
 * whose credential fails) or MLS_NOT_A_MEMBER.
 */
export async function processHandshake(group: MeetingGroup, bytes: Uint8Array): Promise<Processed> {
  checkActive(group);
  const message = decode(bytes, 'handshake message');
  if (message.wireformat !== 'mls_private_message' && message.wireformat !== 'mls_public_message') {
    throw new GeobridgeError('MLS_MESSAGE_REJECTED', `Expected a commit or proposal, got ${message.wireformat}.`);
  }
  const result = await withCredentialCheck(
    group.policy,
    (auth) => processMessage(message, withAuth(group.state, auth), emptyPskIndex, acceptAll, group.cs),
    (detail, cause) => new GeobridgeError('MLS_MESSAGE_REJECTED', `The handshake message was refused: ${detail}.`, { cause }),
  );
  if (result.kind === 'applicationMessage') throw new GeobridgeError('MLS_MESSAGE_REJECTED', 'An MLS application message is not a handshake message; read it with decryptApplication.');
  const next = { ...group, state: result.newState };
  if (result.newState.groupContext.epoch === group.state.groupContext.epoch && result.newState.groupActiveState.kind === 'active') return { kind: 'proposal', group: next };
  return { kind: 'commit', group: next, removed: result.newState.groupActiveState.kind === 'removedFromGroup' };
}

/** The group's current MLS epoch. */
export function epochOf(group: MeetingGroup): bigint {
  return group.state.groupContext.epoch;
}

/** This member's leaf index (its SFrame sender index). */
export function ownLeafIndex(group: MeetingGroup): number {
  return group.state.privatePath.leafIndex;
}

/** The leaf indices of all members, in order (blank leaves skipped). */
export function memberLeafIndices(group: MeetingGroup): number[] {
  return group.state.ratchetTree.flatMap((node, nodeIndex) => (node?.nodeType === 'leaf' ? [nodeIndex / 2] : []));
}

/** The members, by leaf index; a leaf whose assertion cannot be read (never, once checked) is named by its index. */
export function members(group: MeetingGroup): Member[] {
  return group.state.ratchetTree.flatMap((node, nodeIndex) => {
    if (node?.nodeType !== 'leaf') return [];
    const leafIndex = nodeIndex / 2;
    const who = identityOf(node.leaf.credential);
    return [{ leafIndex, participant: who?.participant ?? `leaf-${leafIndex}`, name: who?.name ?? '', keyFingerprint: keyFingerprint(node.leaf.signaturePublicKey) }];
  });
}

/**
 * Whether `keyPackage` (encoded) is already in the group: its leaf's signature
 * key is a member's. A key package sent again (a retry that crossed the
 * Welcome) must not be added twice; MLS refuses such a commit.
 */
export function hasKeyPackage(group: MeetingGroup, keyPackage: Uint8Array): boolean {
  const message = decodeWholeMessage(keyPackage);
  if (message?.wireformat !== 'mls_key_package') return false;
  const key = message.keyPackage.leafNode.signaturePublicKey;
  return group.state.ratchetTree.some((node) => node?.nodeType === 'leaf' && sameBytes(node.leaf.signaturePublicKey, key));
}

/**
 * The participant a key package's credential names, read without verifying
 * it (adding it verifies it), or undefined if it names none: a key package
 * must be its sender's own.
 */
export function keyPackageParticipant(keyPackage: Uint8Array): string | undefined {
  const message = decodeWholeMessage(keyPackage);
  return message?.wireformat === 'mls_key_package' ? identityOf(message.keyPackage.leafNode.credential)?.participant : undefined;
}

/**
 * MLS-Exporter("SFrame 1.0 Base Key", "", Nk) for this epoch (RFC 9605 §5.2),
 * Nk of the SFrame suite (16 for the default AES_128_GCM_SHA256_128).
 * Throws MLS_NOT_A_MEMBER once removed.
 */
export async function exportSframeBaseKey(group: MeetingGroup, sframeSuite = DEFAULT_CIPHER_SUITE): Promise<Uint8Array> {
  checkActive(group);
  return mlsExporter(group.state.keySchedule.exporterSecret, SFRAME_EXPORTER_LABEL, new Uint8Array(0), getCipherSuite(sframeSuite).nk, group.cs);
}

/**
 * The frame layout of this epoch (kid.ts `FrameLayout`): 'whole' when every
 * member's leaf lists WHOLE_FRAME_CAPABILITY, else 'split'. Every member
 * computes it from the same signed leaves, so all agree, and a bridge cannot
 * change it without breaking the members' signatures.
 */
export function frameLayout(group: MeetingGroup): FrameLayout {
  const readsWhole = group.state.ratchetTree.every((node) => node?.nodeType !== 'leaf' || node.leaf.capabilities.extensions.includes(WHOLE_FRAME_CAPABILITY));
  return readsWhole ? 'whole' : 'split';
}

/** This epoch's SFrame material for `installEpochKeys` (kid.ts), and its frame layout. */
export async function epochKeys(group: MeetingGroup, sframeSuite = DEFAULT_CIPHER_SUITE): Promise<EpochKeys> {
  return {
    epoch: epochOf(group),
    baseKey: await exportSframeBaseKey(group, sframeSuite),
    ownIndex: ownLeafIndex(group),
    memberIndices: memberLeafIndices(group),
    layout: frameLayout(group),
  };
}
