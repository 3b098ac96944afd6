/**
 * TypeBox schemas shared by several routes.
 */
import { Type } from 'typebox';

/** An ISO 3166-1 alpha-2 code (checked against the country list by the handlers). */
export const CountryCode = Type.String({ pattern: '^[A-Z]{2}$', description: 'ISO 3166-1 alpha-2, e.g. DE' });

/** Bearer-authenticated route. */
export const BEARER = [{ bearer: [] }];

/** An account as the API shows it (never its key hash). */
export const AccountSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    homeCountry: Type.String(),
    plan: Type.Optional(Type.String()),
    allowedJurisdictions: Type.Optional(Type.Array(Type.String())),
    policyRevision: Type.Integer({ minimum: 0, description: "How many times the policy changed: the account's ETag, for If-Match on PUT …/policy" }),
    createdAt: Type.String(),
  },
  { additionalProperties: false },
);

/** An Ed25519 public key as published (RFC 8037, `kid` the RFC 7638 thumbprint): the JWKS's keys and the log key. */
export const PublicJwkSchema = Type.Object({ kty: Type.Literal('OKP'), crv: Type.Literal('Ed25519'), x: Type.String(), kid: Type.String(), alg: Type.Literal('EdDSA'), use: Type.Literal('sig') });
