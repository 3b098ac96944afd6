/**
 * POST /v1/identity: the broker vouches for a participant's MLS signature
 * key. With its join token a participant sends the public half of the key
 * it will sign MLS messages with; the broker answers with an identity
 * assertion (a JWT it signs) binding that key to the participant, display
 * name and meeting of the join token. Other members accept the participant
 * into the meeting's MLS group only with such an assertion (src/mls/
 * identity.ts), so a bridge — or anyone else — cannot slip in a member.
 */
import { Type } from 'typebox';
import { GeobridgeError } from '../../core/errors.js';
import type { BrokerApp } from './broker-app.js';
import { requireJoinToken } from '../auth.js';
import type { BrokerContext } from '../context.js';
import { IdentityAnswer } from '../../protocol/answers.js';
import { ED25519_PUBLIC_KEY_PATTERN } from '../../protocol/identity-assertion.js';
import { issueIdentityAssertion } from '../tickets.js';
import { BEARER } from './schemas.js';

/** An assertion outlives a long meeting: members re-check every leaf when they join (docs/e2ee.md). */
const IDENTITY_SECONDS = 12 * 60 * 60;

export function identityRoutes(app: BrokerApp, ctx: BrokerContext): void {
  app.post(
    '/v1/identity',
    {
      schema: {
        tags: ['route'],
        summary: "Bind the participant's MLS signature key to its identity: a broker-signed identity assertion (join token as bearer)",
        security: BEARER,
        body: Type.Object({ signatureKey: Type.String({ pattern: ED25519_PUBLIC_KEY_PATTERN, description: 'Raw 32-byte Ed25519 public key, base64url without padding (43 characters)' }) }, { additionalProperties: false }),
        response: { 201: IdentityAnswer },
      },
    },
    async (request, reply) => {
      const claims = await requireJoinToken(ctx, request);
      const meeting = await ctx.store.getMeeting(claims.meeting);
      if (!meeting) throw new GeobridgeError('NOT_FOUND', `meeting '${claims.meeting}' no longer exists.`);
      if (meeting.endedAt) throw new GeobridgeError('MEETING_ENDED', `meeting '${meeting.id}' has ended (${meeting.endedReason ?? 'ended'}).`);
      const issued = await issueIdentityAssertion(ctx.keys, { participant: claims.sub, meeting: meeting.id, name: claims.name, signatureKey: request.body.signatureKey, expiresInSeconds: IDENTITY_SECONDS });
      return reply.status(201).send({ assertion: issued.token, expiresAt: new Date(issued.claims.exp * 1000).toISOString() });
    },
  );
}
