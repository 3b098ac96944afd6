/**
 * The small part of CBOR (RFC 8949) that compact tokens need, in its one
 * deterministic spelling (§4.2.1): integers, byte and text strings, arrays,
 * maps, true and false; shortest heads, definite lengths, map keys in
 * bytewise order and never twice. The decoder refuses every other spelling,
 * so one value has one encoding and a signed token one reading.
 */

/** A value this codec carries. Maps keep CBOR's integer or text keys. */
export type CborValue = number | boolean | string | Uint8Array | readonly CborValue[] | CborMap;
/** A CBOR map: integer or text keys. */
export type CborMap = ReadonlyMap<number | string, CborValue>;

/** Malformed or non-deterministic CBOR; `offset` is where the decoder stopped. */
export class CborError extends Error {
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(`${message} at byte ${offset}`);
    this.name = 'CborError';
    this.offset = offset;
  }
}

/** Nesting deeper than this is refused: tokens nest three levels. */
const MAX_DEPTH = 16;
const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The deterministic encoding of `value`. Throws on numbers that are not safe integers. */
export function encodeCbor(value: CborValue): Uint8Array {
  const out = new Writer();
  write(out, value);
  return out.bytes();
}

/**
 * Bytes written in place into a buffer that doubles when full. With map
 * keys ordered without being encoded apart (`compareKeys`), a route
 * ticket's claims, encoded on every route, take ~5 µs instead of ~28.
 */
class Writer {
  #buffer = new Uint8Array(512);
  #length = 0;

  /** Room for `n` more bytes; the offset to write them at. */
  reserve(n: number): number {
    const at = this.#length;
    if (at + n > this.#buffer.length) {
      const grown = new Uint8Array(Math.max(2 * this.#buffer.length, at + n));
      grown.set(this.#buffer.subarray(0, at));
      this.#buffer = grown;
    }
    this.#length = at + n;
    return at;
  }

  // Reserve first: `this.#buffer` read before `reserve` grows it would be the old buffer.
  byte(b: number): void {
    const at = this.reserve(1);
    this.#buffer[at] = b;
  }

  append(bytes: Uint8Array): void {
    const at = this.reserve(bytes.length);
    this.#buffer.set(bytes, at);
  }

  /** Writes `text` as UTF-8 after a head of major type 3. */
  text(text: string): void {
    // Most strings here are ASCII (ids, URLs, codes): one byte a code unit, written directly.
    let ascii = true;
    for (let i = 0; i < text.length; i += 1) {
      if (text.charCodeAt(i) >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (!ascii) {
      this.utf8(utf8.encode(text));
      return;
    }
    head(this, 3, text.length);
    const at = this.reserve(text.length);
    for (let i = 0; i < text.length; i += 1) this.#buffer[at + i] = text.charCodeAt(i);
  }

  /** Writes a text string already encoded as UTF-8. */
  utf8(bytes: Uint8Array): void {
    head(this, 3, bytes.length);
    this.append(bytes);
  }

  /** A copy of the bytes written, in a buffer of their own. */
  bytes(): Uint8Array {
    return this.#buffer.slice(0, this.#length);
  }
}

function write(out: Writer, value: CborValue): void {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new RangeError(`CBOR here carries safe integers only, not ${value}`);
    if (value >= 0) head(out, 0, value);
    else head(out, 1, -1 - value);
  } else if (typeof value === 'boolean') {
    out.byte(value ? 0xf5 : 0xf4);
  } else if (typeof value === 'string') {
    out.text(value);
  } else if (value instanceof Uint8Array) {
    head(out, 2, value.length);
    out.append(value);
  } else if (value instanceof Map) {
    const entries: MapEntry[] = [];
    for (const [k, v] of value as CborMap) entries.push(mapEntry(k, v));
    entries.sort(compareKeys);
    head(out, 5, entries.length);
    for (let i = 0; i < entries.length; i += 1) {
      const entry = entries[i] as MapEntry;
      if (i > 0 && compareKeys(entries[i - 1] as MapEntry, entry) === 0) throw new RangeError('a CBOR map key appears twice');
      // A text key's UTF-8 is at hand from ordering it.
      if (entry.text === undefined) write(out, entry.key);
      else out.utf8(entry.text);
      write(out, entry.value);
    }
  } else {
    const list = value as readonly CborValue[];
    head(out, 4, list.length);
    for (const item of list) write(out, item);
  }
}

/**
 * A map entry with what orders its key (§4.2.1: bytewise order of the
 * encoded keys) without encoding it apart: the major type first (0, 1, 3),
 * then, within an integer type, the head's argument, whose shortest
 * encodings sort as the numbers do; within text, the UTF-8 length, then
 * the bytes.
 */
interface MapEntry {
  readonly key: number | string;
  readonly value: CborValue;
  readonly major: number;
  /** The head's argument: the integer's, or the text's length in bytes. */
  readonly argument: number;
  /** A text key's UTF-8. */
  readonly text?: Uint8Array;
}

function mapEntry(key: number | string, value: CborValue): MapEntry {
  if (typeof key === 'string') {
    const text = utf8.encode(key);
    return { key, value, major: 3, argument: text.length, text };
  }
  if (!Number.isSafeInteger(key)) throw new RangeError(`a CBOR map key here is a safe integer or a text string, not ${typeof key === 'number' ? String(key) : typeof key}`);
  return key >= 0 ? { key, value, major: 0, argument: key } : { key, value, major: 1, argument: -1 - key };
}

function compareKeys(a: MapEntry, b: MapEntry): number {
  if (a.major !== b.major) return a.major - b.major;
  if (a.argument !== b.argument) return a.argument - b.argument;
  return a.text === undefined || b.text === undefined ? 0 : compareBytes(a.text, b.text);
}

/** A head in its shortest form (§4.2.1). */
function head(out: Writer, major: number, n: number): void {
  const m = major << 5;
  if (n < 24) out.byte(m | n);
  else if (n < 0x100) {
    out.byte(m | 24);
    out.byte(n);
  } else if (n < 0x10000) {
    out.byte(m | 25);
    out.byte(n >>> 8);
    out.byte(n & 0xff);
  } else {
    const long = n >= 0x100000000;
    out.byte(m | (long ? 27 : 26));
    const high = Math.floor(n / 0x100000000);
    if (long) for (const shift of [24, 16, 8, 0]) out.byte((high >>> shift) & 0xff);
    for (const shift of [24, 16, 8, 0]) out.byte((n >>> shift) & 0xff);
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  // §4.2.1: bytewise lexicographic order of the encoded keys (a shorter key sorts first, as its head says less).
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i += 1) if (a[i] !== b[i]) return (a[i] ?? 0) - (b[i] ?? 0);
  return a.length - b.length;
}

/** Decodes exactly one deterministic CBOR item filling `bytes`; throws `CborError` otherwise. */
export function decodeCbor(bytes: Uint8Array): CborValue {
  const reader = { bytes, at: 0 };
  const value = read(reader, 0);
  if (reader.at !== bytes.length) throw new CborError('trailing bytes after the CBOR item', reader.at);
  return value;
}

interface Reader {
  readonly bytes: Uint8Array;
  at: number;
}

function read(r: Reader, depth: number): CborValue {
  if (depth > MAX_DEPTH) throw new CborError('CBOR nested too deep', r.at);
  const start = r.at;
  const initial = byte(r);
  const major = initial >> 5;
  const info = initial & 0x1f;
  if (major === 7) {
    if (info === 20) return false;
    if (info === 21) return true;
    throw new CborError('only true and false are allowed among CBOR simple values and floats', start);
  }
  const n = argument(r, info, start);
  switch (major) {
    case 0:
      return n;
    case 1:
      if (n >= Number.MAX_SAFE_INTEGER) throw new CborError('negative integer out of range', start);
      return -1 - n;
    case 2:
      return take(r, n).slice();
    case 3:
      try {
        return strictUtf8.decode(take(r, n));
      } catch {
        throw new CborError('text string is not UTF-8', start);
      }
    case 4: {
      const list: CborValue[] = [];
      for (let i = 0; i < n; i += 1) list.push(read(r, depth + 1));
      return list;
    }
    case 5: {
      const map = new Map<number | string, CborValue>();
      let previous: Uint8Array | undefined;
      for (let i = 0; i < n; i += 1) {
        const keyStart = r.at;
        const key = read(r, depth + 1);
        if (typeof key !== 'number' && typeof key !== 'string') throw new CborError('a map key must be an integer or a text string', keyStart);
        const keyBytes = r.bytes.subarray(keyStart, r.at);
        if (previous !== undefined && compareBytes(previous, keyBytes) >= 0) throw new CborError('map keys out of deterministic order, or repeated', keyStart);
        previous = keyBytes;
        map.set(key, read(r, depth + 1));
      }
      return map;
    }
    default:
      throw new CborError('CBOR tags are not allowed here', start);
  }
}

/** A head's argument, refusing indefinite lengths and any head longer than needed. */
function argument(r: Reader, info: number, start: number): number {
  if (info < 24) return info;
  let n: number;
  let least: number;
  if (info === 24) [n, least] = [byte(r), 24];
  else if (info === 25) [n, least] = [byte(r) * 0x100 + byte(r), 0x100];
  else if (info === 26) [n, least] = [((byte(r) << 24) >>> 0) + byte(r) * 0x10000 + byte(r) * 0x100 + byte(r), 0x10000];
  else if (info === 27) {
    let v = 0;
    for (let i = 0; i < 8; i += 1) v = v * 0x100 + byte(r);
    if (!Number.isSafeInteger(v)) throw new CborError('integer out of range', start);
    [n, least] = [v, 0x100000000];
  } else throw new CborError('indefinite lengths and reserved heads are not allowed', start);
  if (n < least) throw new CborError('a CBOR head longer than its value needs', start);
  return n;
}

function byte(r: Reader): number {
  const b = r.bytes[r.at];
  if (b === undefined) throw new CborError('CBOR ends early', r.at);
  r.at += 1;
  return b;
}

function take(r: Reader, n: number): Uint8Array {
  if (n > r.bytes.length - r.at) throw new CborError('CBOR ends early', r.at);
  const slice = r.bytes.subarray(r.at, r.at + n);
  r.at += n;
  return slice;
}
