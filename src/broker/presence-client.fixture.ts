/**
 * A presence connection as a test makes one: from a chosen loopback address,
 * optionally saying hello, and what came of it — refused before the
 * handshake (status and error code), closed by the broker, or present.
 */
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';

/** What a presence attempt came to. */
export type PresenceOutcome =
  | { readonly kind: 'refused'; readonly status: number; readonly code: string | undefined; readonly retryAfter: string | undefined }
  | { readonly kind: 'closed'; readonly closeCode: number; readonly reason: string }
  | { readonly kind: 'present' };

/** Opens `/v1/bridges/presence` on `broker` from `localAddress` and sends `hello` once open (nothing when undefined: the broker's timeout closes it). */
export function tryPresence(broker: string, localAddress: string, hello: string | undefined, timeoutMs = 20_000): Promise<PresenceOutcome> {
  const url = new URL('/v1/bridges/presence', broker);
  url.protocol = 'ws:';
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { localAddress });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`presence from ${localAddress}: no outcome in ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (outcome: PresenceOutcome): void => {
      clearTimeout(timer);
      resolve(outcome);
    };
    ws.on('unexpected-response', (request, response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        request.destroy();
        let code: string | undefined;
        try {
          code = (JSON.parse(body) as { code?: string }).code;
        } catch {
          code = undefined;
        }
        const retryAfter = response.headers['retry-after'];
        done({ kind: 'refused', status: response.statusCode ?? 0, code, retryAfter });
      });
    });
    ws.on('open', () => {
      if (hello !== undefined) ws.send(hello);
    });
    ws.on('message', () => {
      done({ kind: 'present' });
      ws.close();
    });
    ws.on('close', (closeCode, reason) => {
      done({ kind: 'closed', closeCode, reason: reason.toString() });
    });
    // A refused upgrade also ends in an error once its request is destroyed; the outcome is already known.
    ws.on('error', () => undefined);
  });
}

/** The body of a bridge's presence hello (sign it with `signAs`): a fresh nonce, a boot id, no grace. */
export function presenceHello(boot = 'test'): Readonly<Record<string, unknown>> {
  return { kind: 'presence', nonce: randomBytes(18).toString('base64url'), boot, graceMs: 0 };
}
