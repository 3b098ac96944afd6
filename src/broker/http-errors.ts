/**
 * The one table from error codes to HTTP statuses (docs/errors.md lists every
 * code with its fix), and the error body every route answers with:
 * `{ statusCode, code, error, message }`.
 */
import { STATUS_CODES } from 'node:http';

/** HTTP status per code; codes not listed are 500. */
export const HTTP_STATUS: Readonly<Record<string, number>> = {
  VALIDATION: 400,
  BAD_REQUEST: 400,
  INVALID_COUNTRY: 400,
  INVALID_IP: 400,
  INVALID_TIME: 400,
  UNAUTHORIZED: 401,
  JOIN_TOKEN_INVALID: 401,
  JOIN_TOKEN_EXPIRED: 401,
  INVITE_INVALID: 401,
  INVITE_EXPIRED: 401,
  JOIN_TOKEN_WRONG_MEETING: 403,
  BRIDGE_UNKNOWN: 401,
  BRIDGE_BAD_SIGNATURE: 401,
  BRIDGE_STALE: 401,
  BRIDGE_REPLAYED: 401,
  BRIDGE_MESSAGE_INVALID: 400,
  TICKET_INVALID: 401,
  TICKET_EXPIRED: 401,
  TICKET_UNKNOWN_MANIFEST: 401,
  KEY_REVOKED: 401,
  TICKET_WRONG_DATACENTER: 403,
  TICKET_OUTSIDE_FENCE: 403,
  FORBIDDEN: 403,
  CSRF_INVALID: 403,
  FENCE_CONFLICT: 403,
  NO_STORE_IN_FENCE: 403,
  PLACED_ELSEWHERE: 409,
  NOT_A_MEMBER: 409,
  SESSION_REPLACED: 409,
  BRIDGE_URL_MISMATCH: 409,
  BRIDGE_URL_CHANGED: 409,
  NOT_FOUND: 404,
  STORE_NOT_FOUND: 404,
  STORE_CONFLICT: 409,
  MEETING_ENDED: 410,
  MANIFEST_CHANGED: 412,
  ACCOUNT_POLICY_CHANGED: 412,
  PAYLOAD_TOO_LARGE: 413,
  URI_TOO_LONG: 414,
  UNSUPPORTED_MEDIA_TYPE: 415,
  MANIFEST_REJECTED: 422,
  POLICY_STRANDS_HOME_ZONE: 422,
  CLIENT_NOT_LOCATED: 422,
  UNKNOWN_PLAN: 422,
  TRANSLOG_OUT_OF_RANGE: 416,
  RATE_LIMITED: 429,
  HEADERS_TOO_LARGE: 431,
  REQUEST_TIMEOUT: 408,
  INTERNAL: 500,
  NO_CAPACITY_IN_FENCE: 503,
  NO_ZONE: 503,
  STORE_UNAVAILABLE: 503,
  AUDIT_UNAVAILABLE: 503,
  BUS_UNAVAILABLE: 503,
};

/** Seconds a refused client should wait before asking again. */
export const RETRY_AFTER_SECONDS: Readonly<Record<string, number>> = { NO_CAPACITY_IN_FENCE: 15, STORE_UNAVAILABLE: 5, AUDIT_UNAVAILABLE: 5, BUS_UNAVAILABLE: 5 };

/** The body of every error response. */
export interface ErrorBody {
  readonly statusCode: number;
  readonly code: string;
  readonly error: string;
  readonly message: string;
}

/** The status for a code (500 when the table has none). */
export function statusFor(code: string): number {
  return HTTP_STATUS[code] ?? 500;
}

/** Builds the error body for a code. */
export function errorBody(code: string, message: string, statusCode = statusFor(code)): ErrorBody {
  return { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message };
}
