/**
 * A bridge believes the broker's published bridge keys (GET /v1/bridges/keys)
 * for a minute at most: once the operator re-keys a datacenter's bridge (its
 * old key lost or stolen), a relay ticket naming the old key is refused by
 * the other bridges within that minute, even though it matched the keys they
 * had fetched before.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { generateBridgeIdentity } from '../broker/attestation.js';
import { startTestBroker, type TestBroker } from '../broker/test-broker.fixture.js';
import { issueRelayTicket } from '../broker/tickets.js';
import { isGeobridgeError } from '../core/errors.js';
import { BrokerLink } from './broker-link.js';

let broker: TestBroker | undefined;

afterEach(async () => {
  vi.restoreAllMocks();
  await broker?.close();
  broker = undefined;
});

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'accepted';
  } catch (error) {
    return isGeobridgeError(error) ? error.code : String(error);
  }
}

describe("the broker's bridge keys, as a bridge checks relay tickets against them", () => {
  it('are fetched again after a minute, so a ticket naming a re-keyed bridge’s old key is refused', async () => {
    const b = (broker = await startTestBroker());
    // The bridge checks expiry by the wall clock: the broker's signs by it too.
    b.advance(Math.max(0, Date.now() - b.ctx.now().getTime()));
    await b.app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${String((b.app.server.address() as { port: number }).port)}`;
    const tokyo = await generateBridgeIdentity();
    const link = await BrokerLink.open({ broker: url, datacenter: 'ap-tokyo', privateJwk: tokyo.privateJwk, url: 'ws://127.0.0.1:1/signal' });
    const published = b.ctx.config.bridgePublicJwks as Record<string, JsonWebKey>;
    const oldKey = String(published['eu-central']?.x);
    const ticket = async (): Promise<string> =>
      (await issueRelayTicket(b.ctx.keys, { issuer: b.ctx.config.issuer, meeting: 'mtg_1', from: 'eu-central', to: 'ap-tokyo', fromKey: oldKey, toKey: tokyo.publicKey, manifest: b.ctx.policy.current.sha256, e2ee: true, streams: ['ptc_1'] })).token;
    let now = 1_000_000;
    vi.spyOn(performance, 'now').mockImplementation(() => now);
    expect(await refusal(link.verifyRelayTicket(await ticket(), 'to'))).toBe('accepted');
    // The operator re-keys eu-central's bridge; the keys this bridge fetched still say the old one.
    published['eu-central'] = { kty: 'OKP', crv: 'Ed25519', x: (await generateBridgeIdentity()).publicKey };
    now += 50_000;
    expect(await refusal(link.verifyRelayTicket(await ticket(), 'to'))).toBe('accepted');
    now += 11_000;
    expect(await refusal(link.verifyRelayTicket(await ticket(), 'to'))).toBe('RELAY_TICKET_INVALID');
  });
});
