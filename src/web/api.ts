/**
 * The broker calls the page makes before it has a join token. Errors keep
 * the broker's stable `code` so the page can explain them (messages.ts).
 */
import type { DatacenterInfo } from './messages.js';

/** What `/v1/info` says about this broker. */
export interface BrokerInfo {
  readonly dev: boolean;
  readonly datacenters: readonly DatacenterInfo[];
}

/** A refusal from the broker: its error code and message. */
export class BrokerRefusal extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = 'BrokerRefusal';
    this.code = code;
  }
}

async function call<T>(path: string, body?: unknown): Promise<T> {
  const response = await fetch(path, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (!response.ok) {
    throw new BrokerRefusal(typeof json.code === 'string' ? json.code : `HTTP_${response.status}`, typeof json.message === 'string' ? json.message : `the broker answered ${response.status}`);
  }
  return json as T;
}

/** Dev mode and the datacenters of the manifest in force. */
export function fetchInfo(): Promise<BrokerInfo> {
  return call<BrokerInfo>('/v1/info');
}

/** The title of the meeting an invite is for. */
export function previewInvite(invite: string): Promise<{ meeting: string; title: string }> {
  return call('/v1/invites/preview', { invite });
}

/** Exchanges the invite and a display name for a join token. */
export function acceptInvite(invite: string, name: string): Promise<{ token: string; participant: string; title: string }> {
  return call('/v1/invites/accept', { invite, name });
}
