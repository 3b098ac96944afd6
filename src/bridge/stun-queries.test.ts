/**
 * Who a call's ICE agents talk to. werift, given no STUN server, queries
 * stun.l.google.com: a third party outside every fence, told the bridge's and
 * the participant's addresses and that a call starts, and a 5 s wait for every
 * offer where UDP to it is dropped. Neither the bridge nor the Node SDK may do
 * that: every STUN request of a call goes to an address, the other end's.
 */
import { isIP } from 'node:net';
import { StunProtocol } from 'werift';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from './cluster.fixture.js';
import { joinCall, participantIdOf, until } from './participant.fixture.js';

let cluster: Cluster;
const destinations: string[] = [];
// eslint-disable-next-line @typescript-eslint/unbound-method -- restored as it was, and called with its own `this`
const request = StunProtocol.prototype.request;

beforeAll(async () => {
  StunProtocol.prototype.request = function (this: StunProtocol, ...args: Parameters<StunProtocol['request']>) {
    destinations.push(args[1][0]);
    return request.apply(this, args);
  };
  cluster = await startCluster(['us-east']);
}, 30_000);
afterAll(async () => {
  StunProtocol.prototype.request = request;
  await cluster.close();
});

describe('STUN queries of a call', () => {
  it('go only to the other end of the call, never to a STUN server nobody declared', async () => {
    const meeting = await cluster.meeting();
    const ada = await joinCall(cluster, meeting, 'Ada', 'US', { publish: true });
    const bo = await joinCall(cluster, meeting, 'Bo', 'US');
    await until(() => participantIdOf(bo, 'Ada') !== undefined, 15_000);
    const adaId = participantIdOf(bo, 'Ada') ?? '';
    await until(() => bo.received(adaId, 'us-east') > 5, 15_000);
    expect(bo.received(adaId, 'us-east')).toBeGreaterThan(5);
    ada.leave();
    bo.leave();
    // The connectivity checks went somewhere, and only to addresses.
    expect(destinations.length).toBeGreaterThan(0);
    expect(destinations.filter((host) => isIP(host) === 0)).toEqual([]);
  }, 30_000);
});

