/**
 * The answer of POST /v1/route, defined once: the broker's route declares it
 * (and its serializer writes exactly these fields), the SDK parses what it
 * receives against it (parse-answer.ts). Compact by default: the route is in
 * the signed ticket, so the answer does not say it twice.
 */
import { Type } from 'typebox';

/** A datacenter to try. */
export const CandidateSchema = Type.Object({ datacenter: Type.String(), role: Type.Union([Type.Literal('primary'), Type.Literal('secondary')]), jurisdiction: Type.String() });

/** A datacenter not offered, and why. */
export const ExclusionSchema = Type.Object({ datacenter: Type.String(), reason: Type.String() });

/** The 200 body: the signed route ticket, the bridges' URLs and the log's receipt; the decision JSON of docs/selection.md section 7 only when asked (`?explain=true`). The broker writes it with `routeResponseJson`. */
export const RouteAnswer = Type.Object({
  ticket: Type.String({
    description:
      'The signed route ticket (docs/security.md#route-tickets): the candidates in the order to try them with their jurisdictions and roles, the attempt rules, the allowed STUN/TURN servers, the decision id, country, expiry and manifest. The client reads the route from it, and nothing else',
  }),
  bridges: Type.Record(Type.String(), Type.String(), { description: 'Signalling URL of each candidate whose bridge is live' }),
  receipt: Type.Object(
    {
      index: Type.Integer({ description: "The decision's leaf in the transparency log (its audit record's seq − 1)" }),
      recordHash: Type.String({ description: "The decision's audit record hash (hex): the leaf's entry" }),
      timestamp: Type.Integer({ description: 'When the log promised it, ms since 1970' }),
      keyId: Type.String({ description: 'The log key (GET /v1/log/key)' }),
      signature: Type.String({ description: "Ed25519 by the log key over the inclusion promise and the route the ticket signs (docs/security.md), base64" }),
      log: Type.Optional(Type.String({ description: "The record store whose log holds the decision (manifest `stores:`; GET /v1/log/…?store= proves it); absent: the broker's own log. The signature covers it" })),
    },
    { description: "The log's signed promise that this decision is in it, in a signed tree head within a second (GET /v1/log/proof?index=… then proves it)" },
  ),
  // Only with ?explain=true: the decision as `geobridge route --json` shows it, and what the ticket says, in words.
  zone: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'Only with ?explain=true: the zone serving the participant' })),
  country: Type.Optional(Type.String({ description: 'Only with ?explain=true (the ticket names it)' })),
  decisionId: Type.Optional(Type.String({ description: 'Only with ?explain=true (the ticket names it)' })),
  policyVersion: Type.Optional(Type.Integer({ description: 'Only with ?explain=true: the version of the manifest decided under' })),
  allowedJurisdictions: Type.Optional(Type.Immutable(Type.Array(Type.String(), { description: 'Only with ?explain=true: the jurisdictions the participant may use' }))),
  candidates: Type.Optional(Type.Immutable(Type.Array(CandidateSchema, { description: 'Only with ?explain=true (the ticket signs them)' }))),
  excluded: Type.Optional(Type.Immutable(Type.Array(ExclusionSchema, { description: 'Only with ?explain=true: every datacenter not offered, with its reason' }))),
});
