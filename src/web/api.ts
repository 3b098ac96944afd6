/**
 * The broker calls the page makes before it has a join token, each answer
 * read against its schema in src/protocol. Errors keep the broker's stable
 * `code` so the page can explain them (messages.ts); an answer that does not
 * match its schema is BROKER_ANSWER_INVALID, naming the field.
 */
import type { Static, TSchema } from 'typebox';
import { isGeobridgeError } from '../core/errors.js';
import { isObject } from '../core/fields.js';
import { BrokerInfoAnswer, InviteAcceptAnswer, InvitePreviewAnswer } from '../protocol/answers.js';
import { parseAnswer } from '../protocol/parse-answer.js';

/** What `/v1/info` says about this broker. */
export type BrokerInfo = Static<typeof BrokerInfoAnswer>;

/** A refusal from the broker: its error code and message. */
export class BrokerRefusal extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = 'BrokerRefusal';
    this.code = code;
  }
}

async function call<Schema extends TSchema>(schema: Schema, path: string, body?: unknown): Promise<Static<Schema>> {
  const response = await fetch(path, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json: unknown = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = isObject(json) ? json : {};
    throw new BrokerRefusal(typeof error.code === 'string' ? error.code : `HTTP_${response.status}`, typeof error.message === 'string' ? error.message : `the broker answered ${response.status}`);
  }
  try {
    return parseAnswer(schema, json, `${body === undefined ? 'GET' : 'POST'} ${path}`);
  } catch (error) {
    throw isGeobridgeError(error) ? new BrokerRefusal(error.code, error.message) : error;
  }
}

/** Dev mode and the datacenters of the manifest in force. */
export function fetchInfo(): Promise<BrokerInfo> {
  return call(BrokerInfoAnswer, '/v1/info');
}

/** The title of the meeting an invite is for. */
export function previewInvite(invite: string): Promise<Static<typeof InvitePreviewAnswer>> {
  return call(InvitePreviewAnswer, '/v1/invites/preview', { invite });
}

/** Exchanges the invite and a display name for a join token. */
export function acceptInvite(invite: string, name: string): Promise<Static<typeof InviteAcceptAnswer>> {
  return call(InviteAcceptAnswer, '/v1/invites/accept', { invite, name });
}
