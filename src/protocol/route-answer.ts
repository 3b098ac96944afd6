/**
 * The answer of POST /v1/route, defined once: the broker's route declares it
 * (and its serializer writes exactly these fields), the SDK parses what it
 * receives against it (parse-answer.ts).
 */
import { Type } from 'typebox';

/** A datacenter to try. */
export const CandidateSchema = Type.Object({ datacenter: Type.String(), role: Type.Union([Type.Literal('primary'), Type.Literal('secondary')]), jurisdiction: Type.String() });

/** A datacenter not offered, and why. */
export const ExclusionSchema = Type.Object({ datacenter: Type.String(), reason: Type.String() });

/** A declared STUN/TURN server a participant may accept (the manifest's `ice`, credentials never included). */
export const IceAllowanceSchema = Type.Object({ urls: Type.Immutable(Type.Array(Type.String())), jurisdiction: Type.String() });

/** The 200 body: the decision JSON of docs/selection.md section 7, plus the ticket, the bridges' URLs and the STUN/TURN allowance (the broker writes it with `routeResponseJson`). */
export const RouteAnswer = Type.Object({
  zone: Type.Union([Type.String(), Type.Null()]),
  country: Type.String(),
  // Immutable: the decider's lists go out as they are (readonly in TypeScript, the same JSON Schema).
  allowedJurisdictions: Type.Optional(Type.Immutable(Type.Array(Type.String(), { description: 'Only with ?explain=true: the jurisdictions the participant may use' }))),
  candidates: Type.Immutable(Type.Array(CandidateSchema)),
  excluded: Type.Optional(Type.Immutable(Type.Array(ExclusionSchema, { description: 'Only with ?explain=true: every datacenter not offered, with its reason' }))),
  attempts: Type.Object({ perPrimary: Type.Integer(), timeoutMs: Type.Integer() }),
  decisionId: Type.String(),
  policyVersion: Type.Integer(),
  ticket: Type.String(),
  ticketExpiresAt: Type.String(),
  bridges: Type.Record(Type.String(), Type.String(), { description: 'Signalling URL of each candidate whose bridge is live' }),
  iceServers: Type.Record(Type.String(), Type.Immutable(Type.Array(IceAllowanceSchema)), {
    description: "For each candidate, the declared STUN/TURN servers the participant may accept from its bridge (the manifest's `ice` inside allowedJurisdictions); the client drops any other URL a bridge hands it",
  }),
  receipt: Type.Object(
    {
      manifestSha256: Type.String({ description: 'SHA-256 (hex) of the manifest the decision was made under' }),
      index: Type.Integer({ description: "The decision's leaf in the transparency log (its audit record's seq − 1)" }),
      recordHash: Type.String({ description: "The decision's audit record hash (hex): the leaf's entry" }),
      timestamp: Type.Integer({ description: 'When the log promised it, ms since 1970' }),
      keyId: Type.String({ description: 'The log key (GET /v1/log/key)' }),
      signature: Type.String({ description: 'Ed25519 by the log key over the inclusion promise (docs/security.md), base64' }),
      log: Type.Optional(Type.String({ description: "The record store whose log holds the decision (manifest `stores:`; GET /v1/log/…?store= proves it); absent: the broker's own log. The signature covers it" })),
    },
    { description: "The log's signed promise that this decision is in it, in a signed tree head within a second (GET /v1/log/proof?index=… then proves it)" },
  ),
});
