/**
 * The broker's HTTP answers that its clients read, besides the route answer
 * (route-answer.ts): defined once, declared by the broker's routes, parsed
 * by the SDK and the meeting page (parse-answer.ts).
 */
import { Type } from 'typebox';
import { TIME_MAX_MS } from '../core/time.js';

/** POST /v1/identity: the broker's identity assertion for the participant's MLS signature key (identity-assertion.ts). */
export const IdentityAnswer = Type.Object({ assertion: Type.String(), expiresAt: Type.String() });

/** POST /v1/meetings/:id/join-tokens: a fresh participant and its join token (join-token.ts). */
export const JoinTokenAnswer = Type.Object({ token: Type.String(), participant: Type.String(), expiresAt: Type.String() });

/** POST /v1/invites/accept: a join token, and the meeting it is for. */
export const InviteAcceptAnswer = Type.Object({ token: Type.String(), participant: Type.String(), expiresAt: Type.String(), meeting: Type.String(), title: Type.String() });

/** POST /v1/invites/preview: the meeting an invite is for, and its title. */
export const InvitePreviewAnswer = Type.Object({ meeting: Type.String(), title: Type.String() }, { additionalProperties: false });

/** A datacenter of the manifest in force, as GET /v1/info lists it. */
export const DatacenterInfo = Type.Object(
  { id: Type.String(), jurisdiction: Type.String(), location: Type.Object({ lat: Type.Number(), lon: Type.Number() }, { additionalProperties: false }) },
  { additionalProperties: false },
);

/** GET /v1/info: dev mode, and the datacenters of the manifest in force. */
export const BrokerInfoAnswer = Type.Object({ dev: Type.Boolean(), datacenters: Type.Array(DatacenterInfo) }, { additionalProperties: false });

/** GET /v1/bridges/keys: each datacenter's bridge public key (an Ed25519 JWK), which its proofs of identity verify against (bridge-proof.ts). */
export const BridgeKeysAnswer = Type.Object({ keys: Type.Record(Type.String(), Type.Object({ kty: Type.String(), crv: Type.String(), x: Type.String() })) });

/** GET /v1/log/sth: the transparency log's latest signed tree head (docs/security.md). Size and time are bounded as verifiers read them: a count of leaves, a time a Date holds. */
export const TreeHeadAnswer = Type.Object({
  size: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
  rootHash: Type.String(),
  timestamp: Type.Integer({ minimum: 0, maximum: TIME_MAX_MS }),
  keyId: Type.String(),
  signature: Type.String(),
  log: Type.Optional(Type.String()),
});

/** A ticket key as the broker publishes it (the JWKS, the key history), as far as a verifier reads it. */
const PublishedJwk = Type.Object({ kty: Type.String(), crv: Type.String(), x: Type.String(), kid: Type.String() });

/** GET /.well-known/jwks.json: the keys that verify route tickets today. */
export const JwksAnswer = Type.Object({ keys: Type.Array(PublishedJwk) });

/** GET /v1/keys/history: every key that ever signed tickets, and its life (a receipt outlives its ticket's key in the JWKS). */
export const KeyHistoryAnswer = Type.Object({ keys: Type.Array(Type.Object({ jwk: PublishedJwk, state: Type.String(), retiredAt: Type.Optional(Type.String()), revokedAt: Type.Optional(Type.String()) })) });

/** GET /v1/log/proof: the inclusion proof (RFC 9162 §2.1.3) of one leaf in a tree of `size` leaves. */
export const InclusionProofAnswer = Type.Object({ index: Type.Integer(), size: Type.Integer(), recordHash: Type.String(), proof: Type.Array(Type.String()) });

/** GET /v1/log/consistency: the consistency proof (RFC 9162 §2.1.4) from the tree of `from` leaves to that of `to`. */
export const ConsistencyProofAnswer = Type.Object({ from: Type.Integer(), to: Type.Integer(), proof: Type.Array(Type.String()) });
