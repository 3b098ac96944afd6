/**
 * The one error class family of geobridge. Code switches on `code`, never on
 * `message`; every code is listed in docs/errors.md with its fix.
 */
export class GeobridgeError extends Error {
  /** Stable machine-readable code, e.g. `INVALID_COUNTRY`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GeobridgeError';
    this.code = code;
  }
}

/** True when `value` is a GeobridgeError (also across module copies). */
export function isGeobridgeError(value: unknown): value is GeobridgeError {
  return value instanceof Error && value.name === 'GeobridgeError' && typeof (value as { code?: unknown }).code === 'string';
}
