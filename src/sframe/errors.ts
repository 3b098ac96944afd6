/**
 * SFrame errors: GeobridgeErrors with an `SFRAME_…` code. Every code is in
 * docs/errors.md; callers switch on `code`, never on `message`.
 */
import { GeobridgeError, isGeobridgeError } from '../core/errors.js';

/** The stable codes an SFrame operation can fail with. */
export type SFrameErrorCode =
  | 'SFRAME_BAD_HEADER'
  | 'SFRAME_UNKNOWN_KID'
  | 'SFRAME_AUTH_FAILED'
  | 'SFRAME_REPLAY'
  | 'SFRAME_BAD_KEY'
  | 'SFRAME_BAD_SUITE'
  | 'SFRAME_CTR_EXHAUSTED';

/** A GeobridgeError raised by the SFrame layer; `code` is one of SFrameErrorCode. */
export class SFrameError extends GeobridgeError {
  declare readonly code: SFrameErrorCode;

  /** `cause` is the underlying error, if any. `name` stays 'GeobridgeError', so isGeobridgeError and the edges recognise it. */
  constructor(code: SFrameErrorCode, message: string, cause?: unknown) {
    super(code, message, cause === undefined ? undefined : { cause });
  }
}

/** True when `value` is an SFrame error (also across module copies). */
export function isSFrameError(value: unknown): value is SFrameError {
  return isGeobridgeError(value) && value.code.startsWith('SFRAME_');
}
