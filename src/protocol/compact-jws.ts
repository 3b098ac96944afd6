/**
 * The one spelling of a compact JWS (RFC 7515 §7.1): base64url segments in
 * canonical form. Decoders ignore the unused low bits of a segment's last
 * character (RFC 4648 §3.5), so without this check one token would have
 * several valid spellings — and a cache or replay guard keyed by its text
 * could be fooled by a twin.
 */
import { base64url } from 'jose';

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** True when `token` is three (or `parts`) base64url segments, each in canonical form. */
export function isCanonicalCompactJws(token: string, parts = 3): boolean {
  const segments = token.split('.');
  return segments.length === parts && segments.every(isCanonicalBase64url);
}

function isCanonicalBase64url(segment: string): boolean {
  if (!BASE64URL.test(segment)) return false;
  try {
    return base64url.encode(base64url.decode(segment)) === segment;
  } catch {
    return false;
  }
}
