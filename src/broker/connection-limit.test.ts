/**
 * One address cannot hold every socket the broker can open: past
 * --max-connections-per-address, a connection is answered 429 at once and
 * closed, and a slot freed is a slot again. Other addresses are not held to
 * that address's count, and trusted proxies are exempt.
 */
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { limitConnectionsPerAddress } from './connection-limit.js';
import { startTestBroker, type TestBroker } from './test-broker.fixture.js';

// Sized for a loaded 2-core machine running test files in parallel.
vi.setConfig({ testTimeout: 30_000 });

let broker: TestBroker | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await broker?.close();
  broker = undefined;
});

async function listening(config: { maxConnectionsPerAddress: number; trustedProxies?: string[] }): Promise<number> {
  broker = await startTestBroker({ config });
  await broker.app.listen({ host: '127.0.0.1', port: 0 });
  return (broker.app.server.address() as { port: number }).port;
}

/** A connected socket from `from`, kept open. */
async function open(port: number, from = '127.0.0.1'): Promise<Socket> {
  const socket = connect({ port, host: '127.0.0.1', localAddress: from });
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return socket;
}

/** What the broker says on a socket to `GET /healthz`, until it closes. */
async function ask(socket: Socket): Promise<string> {
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (text += chunk));
  socket.write('GET /healthz HTTP/1.1\r\nhost: broker\r\nconnection: close\r\n\r\n');
  await new Promise<void>((resolve) => {
    socket.once('close', () => { resolve(); });
    socket.once('error', () => { resolve(); });
  });
  return text;
}

async function limited(): Promise<number> {
  const metrics = await broker?.ctx.metrics.registry.getSingleMetricAsString('geobridge_rate_limited_total');
  return Number(/limit="connections"} (\d+)/.exec(metrics ?? '')?.[1] ?? 0);
}

describe('connections per address', () => {
  it('answers the connection over the cap 429 and closes it; other addresses are let in; a slot freed takes a new one', async () => {
    const port = await listening({ maxConnectionsPerAddress: 3 });
    const held = [await open(port), await open(port), await open(port)];
    const over = await ask(await open(port));
    expect(over).toMatch(/^HTTP\/1\.1 429 /);
    expect(over).toContain('"code":"RATE_LIMITED"');
    expect(over.toLowerCase()).toContain('retry-after: 1');
    expect(await limited()).toBe(1);
    // Another address is not held to 127.0.0.1's count.
    expect(await ask(await open(port, '127.0.0.2'))).toMatch(/^HTTP\/1\.1 200 /);
    // The three held ones are served as ever.
    expect(await ask(held[0] as Socket)).toMatch(/^HTTP\/1\.1 200 /);
    // held[0] closed: its slot takes a new connection (the count drops when the broker sees the close).
    await vi.waitFor(async () => { expect(await ask(await open(port))).toMatch(/^HTTP\/1\.1 200 /); }, { timeout: 10_000, interval: 100 });
  });

  it('closes refused connections at once past a few still being answered, so they cannot pile up; IPv6 counts per /64, IPv4-mapped as IPv4', () => {
    const server = new EventEmitter();
    let refusals = 0;
    limitConnectionsPerAddress(server, 1, () => false, () => refusals++);
    /** A socket as the server sees it: what the limiter did to it. */
    const arrive = (remoteAddress: string): { readonly did: string[] } => {
      const did: string[] = [];
      const socket = Object.assign(new EventEmitter(), {
        remoteAddress,
        pause: () => did.push('pause'),
        end: () => did.push('429'),
        destroy: () => did.push('destroy'),
      });
      server.emit('connection', socket);
      return { did };
    };
    expect(arrive('127.0.0.1').did).toEqual([]);
    // None of these reads its answer: 8 are written a 429 (and closed a second later), the rest closed at once.
    const refused = Array.from({ length: 20 }, () => arrive('::ffff:127.0.0.1').did);
    expect(refused.filter((d) => d.includes('429'))).toHaveLength(8);
    expect(refused.filter((d) => d.join() === 'pause,destroy')).toHaveLength(12);
    expect(refusals).toBe(20);
    // One host's /64: its second address is over the cap too; another /64 is not.
    expect(arrive('2001:db8:1:2::1').did).toEqual([]);
    expect(arrive('2001:db8:1:2:ffff::9').did).toContain('pause');
    expect(arrive('2001:db8:1:3::1').did).toEqual([]);
  });

  it('does not count a trusted proxy: every client behind it arrives from its address', async () => {
    const port = await listening({ maxConnectionsPerAddress: 2, trustedProxies: ['127.0.0.1'] });
    const held = [];
    for (let i = 0; i < 5; i++) held.push(await open(port));
    for (const socket of held) expect(await ask(socket)).toMatch(/^HTTP\/1\.1 200 /);
    expect(await limited()).toBe(0);
  });
});
