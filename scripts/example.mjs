#!/usr/bin/env node
// `npm run example`: serves examples/sdk-minimal (a call in ~50 lines on the public SDK) next to a running
// broker. Start geobridge first (`npm start` in another terminal), then open the printed address with the
// invite of `npm start`'s link: http://127.0.0.1:5180/?country=US&name=Ada#invite=…
// The example is built against the built SDK (scripts/build-sdk.mjs, SFrame worker inline) and served on
// its own port; its calls to the broker (/v1/…, /.well-known/…) are passed through to it, so the page
// talks to one origin as it would behind a deployment's reverse proxy (the broker sends no CORS headers).
// Usage: node scripts/example.mjs [--broker http://127.0.0.1:8080] [--port 5180]
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { buildSdk } from './build-sdk.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const example = join(root, 'examples', 'sdk-minimal');

/** Builds the example and serves it on `port` (0: any), passing broker paths through to `broker`; resolves once listening. */
export async function startExample({ broker = 'http://127.0.0.1:8080', port = 5180, host = '127.0.0.1' } = {}) {
  const sdk = join(root, '.tmp', 'example-sdk');
  mkdirSync(sdk, { recursive: true });
  await buildSdk({ out: sdk, types: false });
  const bundle = await build({ entryPoints: [join(example, 'main.ts')], bundle: true, write: false, format: 'esm', platform: 'browser', target: 'es2022', alias: { 'geobridge/sdk': join(sdk, 'index.js') }, logLevel: 'warning' });
  const files = {
    '/': { type: 'text/html; charset=utf-8', body: readFileSync(join(example, 'index.html')) },
    '/main.js': { type: 'text/javascript; charset=utf-8', body: bundle.outputFiles[0]?.text ?? '' },
  };
  const target = new URL(broker);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path.startsWith('/v1/') || path.startsWith('/.well-known/')) {
      const upstream = request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: { ...req.headers, host: target.host } }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', (error) => {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ statusCode: 502, code: 'BROKER_UNREACHABLE', error: 'Bad Gateway', message: `the broker at ${broker} did not answer (${error.message}); is \`npm start\` running?` }));
      });
      req.pipe(upstream);
      return;
    }
    const file = files[path];
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-cache' }).end(file.body);
  });
  await new Promise((done) => server.listen(port, host, done));
  const address = server.address();
  const url = `http://${host}:${String(typeof address === 'object' && address ? address.port : port)}`;
  // Closing drops open connections too: a browser keeps its sockets alive after its pages close, and waiting for them could take minutes.
  const close = () => new Promise((done) => {
    server.close(done);
    server.closeAllConnections();
  });
  return { url, close };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { broker: { type: 'string' }, port: { type: 'string' } } });
  const running = await startExample({ ...(values.broker !== undefined ? { broker: values.broker } : {}), ...(values.port !== undefined ? { port: Number(values.port) } : {}) });
  console.log(`The SDK example is on ${running.url}, next to the broker at ${values.broker ?? 'http://127.0.0.1:8080'} (start it with \`npm start\`).
Open it with the invite of the link \`npm start\` printed, in two tabs:
  ${running.url}/?country=US&name=Ada#invite=<the invite>
(country: dev-mode brokers only.) Ctrl-C stops it.`);
}
