// The SDK as a package another project installs: `npm run build:sdk` (scripts/build-sdk.mjs) into a
// consumer's node_modules/geobridge, then a program there imports `geobridge/sdk/node` in its own Node
// process and joins a real meeting, a TypeScript file there type-checks against the emitted declarations
// (and a misuse does not), and the browser bundle is self-contained with its SFrame worker inline.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../src/bridge/cluster.fixture.js';
import { buildSdk } from '../scripts/build-sdk.mjs';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');
// Inside the repository (under the ignored .tmp/), so that the bundle's external npm packages resolve from its node_modules.
const consumer = join(root, '.tmp', `sdk-consumer-${String(process.pid)}`);
const pkg = join(consumer, 'node_modules', 'geobridge');
let cluster: Cluster;

beforeAll(async () => {
  rmSync(consumer, { recursive: true, force: true });
  mkdirSync(pkg, { recursive: true });
  copyFileSync(join(root, 'package.json'), join(pkg, 'package.json'));
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  [cluster] = await Promise.all([startCluster(['us-east'], ['us-east']), buildSdk({ out: join(pkg, 'dist', 'sdk') })]);
}, 240_000);

afterAll(async () => {
  await cluster.close();
  rmSync(consumer, { recursive: true, force: true });
});

describe('the built SDK, installed', () => {
  it('joins a meeting from another project’s Node program through geobridge/sdk/node', async () => {
    const meeting = await cluster.meeting('Installed SDK');
    const token = await cluster.joinToken(meeting, 'Bot');
    writeFileSync(
      join(consumer, 'bot.mjs'),
      `import * as sdk from 'geobridge/sdk/node';
const room = sdk.createRoom({ broker: process.argv[2], token: process.argv[3], country: 'US' });
const codes = [];
room.on('e2ee', (e) => codes.push(e.securityCode));
await room.join();
const unreachable = await new sdk.BrokerClient('http://127.0.0.1:9').info().catch((e) => e);
console.log(JSON.stringify({ exports: Object.keys(sdk).sort(), state: room.state, brokerError: unreachable instanceof sdk.BrokerError && unreachable.code }));
room.leave();
process.exit(0);
`,
    );
    const { stdout } = await run(process.execPath, ['bot.mjs', cluster.broker.url, token], { cwd: consumer, timeout: 60_000 });
    const seen = JSON.parse(stdout) as { exports: string[]; state: { connection: string; datacenter: string; jurisdiction: string }; brokerError: string };
    expect(seen.state).toMatchObject({ connection: 'connected', datacenter: 'us-east', jurisdiction: 'US' });
    expect(seen.brokerError).toBe('BROKER_UNREACHABLE');
    expect(seen.exports).toEqual(expect.arrayContaining(['connect', 'createRoom', 'Room', 'BrokerClient', 'BrokerError', 'GeobridgeError']));
  }, 90_000);

  it('type-checks an application against the emitted declarations, and catches a misuse', async () => {
    const tsconfig = { compilerOptions: { target: 'ES2023', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, lib: ['ES2023', 'DOM'], types: ['node'], typeRoots: [join(root, 'node_modules', '@types')], noEmit: true, skipLibCheck: true }, files: ['app.ts'] };
    writeFileSync(join(consumer, 'tsconfig.json'), JSON.stringify(tsconfig));
    const app = `import { connect, type RoomEvent, type RoomState, BrokerError } from 'geobridge/sdk';
import { createRoom as createNodeRoom } from 'geobridge/sdk/node';
export async function main(video: HTMLVideoElement): Promise<RoomState> {
  const room = await connect({ broker: 'https://meet.example.org', invite: 'abc', name: 'Ada' });
  room.on('track-added', (e) => { if (e.source === 'camera') video.srcObject = new MediaStream([e.track]); });
  room.on('e2ee', (e) => console.log(e.securityCode, e.epoch + 1n));
  room.on('*', (e: RoomEvent<MediaStreamTrack>) => console.log(e.type));
  const receipt = await room.routingReceipt();
  console.log(receipt.routes.length, new BrokerError('X', 'y').status);
  createNodeRoom({ broker: 'http://127.0.0.1:8080', token: 't', e2ee: false }).leave();
  return room.state;
}
`;
    writeFileSync(join(consumer, 'app.ts'), app);
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    await run(process.execPath, [tsc, '-p', consumer], { cwd: consumer, timeout: 120_000 });
    // A misuse the declarations must refuse: an event type that does not exist, and a track on the wrong event.
    writeFileSync(join(consumer, 'app.ts'), `${app}export function wrong(room: Awaited<ReturnType<typeof connect>>): void {\n  room.on('track-added', (e) => e.securityCode);\n  room.on('no-such-event', () => undefined);\n}\n`);
    const failed = await run(process.execPath, [tsc, '-p', consumer], { cwd: consumer, timeout: 120_000 }).then(
      () => '',
      (error: unknown) => String((error as { stdout?: unknown }).stdout),
    );
    expect(failed).toContain("Property 'securityCode' does not exist");
    expect(failed).toContain('no-such-event');
  }, 240_000);

  it('bundles the browser entry with every npm package and the SFrame worker inside', () => {
    const bundle = readFileSync(join(pkg, 'dist', 'sdk', 'index.js'), 'utf8');
    const bare = [...bundle.matchAll(/(?:^|[;\n])\s*import\s[^'"]*?from\s*["']([^"'./][^"']*)["']/g)].map((m) => m[1]);
    expect(bare).toEqual([]);
    const worker = readFileSync(join(pkg, 'dist', 'sdk', 'e2ee-worker.js'), 'utf8');
    expect(worker.length).toBeGreaterThan(1000);
    // The worker's code, as a string literal (esbuild may re-quote it): a run of it free of quotes and escapes.
    const sample = /[A-Za-z0-9_$.(){}=,;:&|!<>+*-]{80,}/.exec(worker)?.[0] ?? 'none';
    expect(bundle).toContain(sample);
  });
});
