/**
 * A bridge given several broker URLs (one live broker, the others dead,
 * failing, or dying mid-request) finds the live one: its signed messages
 * are sent there with a fresh `seq`, its control channel connects there,
 * and it says that it moved.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerLink } from './broker-link.js';
import { ControlChannel } from './control-channel.js';
import { startCluster, type Cluster } from './cluster.fixture.js';

let cluster: Cluster;
const servers: Server[] = [];

beforeAll(async () => {
  // us-west for the link alone (its heartbeats announce a made-up URL), us-east for a whole bridge.
  cluster = await startCluster(['us-east', 'us-west'], []);
}, 30_000);
afterAll(async () => {
  await cluster.close();
  for (const server of servers) server.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A URL nothing listens on: connection refused. */
async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

/** A broker that answers every request with `status`. */
function failing(status: number): Promise<string> {
  return listen(createServer((_req, res) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ statusCode: status, code: 'STORE_UNAVAILABLE', error: 'x', message: 'down' }))));
}

/**
 * A broker that dies after accepting: it hands the message to the live broker
 * (which accepts its `seq` into the replay guard), then resets the connection
 * without answering. Records the seqs it saw.
 */
function dyingAfterAccepting(live: string, seqs: number[]): Promise<string> {
  return listen(
    createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        const { message } = JSON.parse(body) as { message: string };
        seqs.push((JSON.parse(Buffer.from(message.split('.')[1] ?? '', 'base64url').toString('utf8')) as { seq: number }).seq);
        void fetch(new URL(req.url ?? '/', live), { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then(() => {
          res.socket?.destroy();
        });
      });
    }),
  );
}

describe('BrokerLink with several brokers', () => {
  it('passes over a dead broker, a 503 and one that died after accepting, and sends afresh to the live one', async () => {
    const seqs: number[] = [];
    const logs: Record<string, unknown>[] = [];
    const brokers = [await deadUrl(), await failing(503), await dyingAfterAccepting(cluster.broker.url, seqs), cluster.broker.url];
    const link = await BrokerLink.open({ broker: brokers, datacenter: 'us-west', privateJwk: cluster.identities.get('us-west') ?? {}, url: 'ws://127.0.0.1:1/signal', log: (l) => logs.push(l) });
    // The live broker already accepted the dying one's seq: the same message again would be BRIDGE_REPLAYED.
    expect(await link.heartbeat({ participants: 0, cpu: 0, draining: false })).toBeGreaterThanOrEqual(1);
    expect(seqs).toHaveLength(1);
    expect(link.broker).toBe(cluster.broker.url);
    expect(logs.map((l) => [l.msg, l.from, l.to])).toEqual([
      ['moving to another broker', brokers[0], brokers[1]],
      ['moving to another broker', brokers[1], brokers[2]],
      ['moving to another broker', brokers[2], brokers[3]],
    ]);
    expect(String(logs[0]?.why)).toContain('ECONNREFUSED');
    expect(String(logs[1]?.why)).toContain('503');
    // It stays where it works.
    await link.heartbeat({ participants: 0, cpu: 0, draining: false });
    expect(logs).toHaveLength(3);
  }, 20_000);

  it('tries each broker once per request, then fails naming them all', async () => {
    const brokers = [await deadUrl(), await deadUrl(), await failing(502)];
    const link = await BrokerLink.open({ broker: brokers, datacenter: 'us-west', privateJwk: cluster.identities.get('us-west') ?? {}, url: 'ws://127.0.0.1:1/signal' });
    const failed = await link.heartbeat({ participants: 0, cpu: 0, draining: false }).then(
      () => undefined,
      (error: unknown) => error as { code: string; message: string },
    );
    // The last broker's own answer is the error (its code says whether to come back), naming the others tried.
    expect(failed?.code).toBe('STORE_UNAVAILABLE');
    expect(failed?.message).toContain(brokers[0]);
    expect(failed?.message).toContain(brokers[1]);
    expect(failed?.message).toContain(brokers[2]);
    const dead = await BrokerLink.open({ broker: [await deadUrl(), await deadUrl()], datacenter: 'us-west', privateJwk: cluster.identities.get('us-west') ?? {}, url: 'ws://127.0.0.1:1/signal' });
    await expect(dead.heartbeat({ participants: 0, cpu: 0, draining: false })).rejects.toMatchObject({ code: 'BROKER_UNREACHABLE' });
  }, 20_000);
});

describe('a bridge given [dead broker, live broker]', () => {
  it('enrols, heart-beats and gets its control channel on the live one', async () => {
    const logs: Record<string, unknown>[] = [];
    const dead = await deadUrl();
    const bridge = await cluster.startBridge('us-east', { broker: [dead, cluster.broker.url], log: (l) => logs.push(l) });
    expect(bridge.broker).toBe(cluster.broker.url);
    // Ready: the control channel delivered the manifest in force (the bridge's status says 'cut-off' otherwise).
    const status = async (): Promise<unknown> => ((await (await fetch(bridge.url.replace(/^ws/, 'http'))).json()) as { status: string }).status;
    let seen: unknown;
    const deadline = Date.now() + 10_000;
    while ((seen = await status()) !== 'ok' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(seen).toBe('ok');
    // Heartbeats go on being accepted: past the broker's heartbeat timeout (1.5 s), a route still lists the bridge as live.
    const meeting = await cluster.meeting();
    const liveBridges = async (): Promise<Record<string, string>> => {
      const res = await fetch(new URL('/v1/route', cluster.broker.url), {
        method: 'POST',
        headers: { authorization: `Bearer ${await cluster.joinToken(meeting, 'Probe')}`, 'content-type': 'application/json' },
        body: JSON.stringify({ country: 'US' }),
      });
      expect(res.status).toBe(200);
      return ((await res.json()) as { bridges: Record<string, string> }).bridges;
    };
    expect((await liveBridges())['us-east']).toBe(bridge.url);
    await new Promise((r) => setTimeout(r, 2000));
    expect((await liveBridges())['us-east']).toBe(bridge.url);
    expect(logs.filter((l) => l.msg === 'heartbeat failed' || l.msg === 'enrolment failed; trying again')).toEqual([]);
    expect(logs.filter((l) => l.msg === 'moving to another broker').map((l) => [l.from, l.to])).toEqual([[dead, cluster.broker.url]]);
  }, 30_000);
});

describe('the control channel alone', () => {
  it('moves the link on from a broker whose presence socket it cannot open, with no request to move it first', async () => {
    // HTTP answers there, but no WebSocket: only the channel's own failover can get it to the live broker.
    const noSockets = await failing(404);
    const logs: Record<string, unknown>[] = [];
    const link = await BrokerLink.open({ broker: [noSockets, cluster.broker.url], datacenter: 'us-west', privateJwk: cluster.identities.get('us-west') ?? {}, url: 'ws://127.0.0.1:1/signal', log: (l) => logs.push(l) });
    const channel = new ControlChannel({ link, graceMs: 60_000, retryMs: 100 }, { onPolicy: () => undefined, onKeysRevoked: () => undefined, onCommand: () => undefined, onCutOff: () => undefined, onLog: (l) => logs.push(l) });
    try {
      channel.open();
      await channel.whenReady(10_000);
      expect(channel.ready).toBe(true);
      expect(channel.policy?.version).toBeGreaterThanOrEqual(1);
      expect(link.broker).toBe(cluster.broker.url);
      expect(logs.filter((l) => l.msg === 'moving to another broker')).toMatchObject([{ from: noSockets, to: cluster.broker.url }]);
    } finally {
      channel.close();
    }
  }, 20_000);
});
