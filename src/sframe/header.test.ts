// SFrame header (RFC 9605 §4.3): round trips, the shortest form, and typed rejections.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { byteLength, concatBytes, splitU64 } from './bytes.js';
import { isSFrameError } from './errors.js';
import { decodeHeader, encodeHeader, headerLength, MAX_U64, readHeader, writeHeader, type HeaderHalves } from './header.js';

/** Any 64-bit value, with the edges (0–8, 2^k − 1, 2^k) drawn often. */
const u64 = fc.oneof(
  fc.bigInt({ min: 0n, max: MAX_U64 }),
  fc.bigInt({ min: 0n, max: 8n }),
  fc.integer({ min: 1, max: 64 }).chain((k) => fc.constantFrom((1n << BigInt(k)) - 1n, (1n << BigInt(k)) % (MAX_U64 + 1n))),
);

function codeOf(f: () => unknown): string {
  try {
    f();
    return 'no error';
  } catch (error) {
    return isSFrameError(error) ? error.code : `not an SFrameError: ${String(error)}`;
  }
}

describe('encodeHeader / decodeHeader', () => {
  it('decode(encode(kid, ctr)) = (kid, ctr) for any 64-bit KID and CTR', () => {
    fc.assert(
      fc.property(u64, u64, fc.uint8Array({ maxLength: 8 }), (kid, ctr, rest) => {
        const header = encodeHeader(kid, ctr);
        expect(decodeHeader(concatBytes(header, rest))).toEqual({ kid, ctr, length: header.length });
      }),
      { numRuns: 5000 },
    );
  });

  it('encodes in the shortest form: values below 8 inline, others in their minimal byte length', () => {
    fc.assert(
      fc.property(u64, u64, (kid, ctr) => {
        const extra = (v: bigint): number => (v < 8n ? 0 : byteLength(v));
        expect(encodeHeader(kid, ctr).length).toBe(1 + extra(kid) + extra(ctr));
      }),
    );
  });

  it('any byte string decodes to a header that re-encodes to the same bytes, or is rejected as SFRAME_BAD_HEADER', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 20 }), (frame) => {
        let header;
        try {
          header = decodeHeader(frame);
        } catch (error) {
          expect(isSFrameError(error) && error.code).toBe('SFRAME_BAD_HEADER');
          return;
        }
        expect(encodeHeader(header.kid, header.ctr)).toEqual(frame.subarray(0, header.length));
      }),
      { numRuns: 5000 },
    );
  });

  it('rejects empty and truncated headers', () => {
    expect(codeOf(() => decodeHeader(new Uint8Array(0)))).toBe('SFRAME_BAD_HEADER');
    expect(codeOf(() => decodeHeader(Uint8Array.of(0x0f, 1, 2, 3)))).toBe('SFRAME_BAD_HEADER'); // CTR needs 8 bytes
    expect(codeOf(() => decodeHeader(Uint8Array.of(0x98, 0x01)))).toBe('SFRAME_BAD_HEADER'); // KID 2 bytes, CTR 1 byte: 3 needed
  });

  it('rejects values not in their shortest form', () => {
    expect(codeOf(() => decodeHeader(Uint8Array.of(0x80, 0x05)))).toBe('SFRAME_BAD_HEADER'); // KID 5 belongs inline
    expect(codeOf(() => decodeHeader(Uint8Array.of(0x08, 0x00)))).toBe('SFRAME_BAD_HEADER'); // CTR 0 belongs inline
    expect(codeOf(() => decodeHeader(Uint8Array.of(0x90, 0x00, 0x10)))).toBe('SFRAME_BAD_HEADER'); // KID 16 in 2 bytes
    expect(codeOf(() => decodeHeader(Uint8Array.of(0x80, 0x10)))).toBe('no error');
  });

  it('refuses to encode values outside 0..2^64−1', () => {
    expect(codeOf(() => encodeHeader(-1n, 0n))).toBe('SFRAME_BAD_HEADER');
    expect(codeOf(() => encodeHeader(0n, MAX_U64 + 1n))).toBe('SFRAME_BAD_HEADER');
    expect(codeOf(() => encodeHeader(1 as unknown as bigint, 0n))).toBe('SFRAME_BAD_HEADER');
  });
});

describe('writeHeader / readHeader (the per-frame path, on 32-bit halves)', () => {
  it('writeHeader from the KID part of encodeHeader(kid, 0) equals encodeHeader(kid, ctr), and readHeader reads it back', () => {
    fc.assert(
      fc.property(u64, u64, fc.uint8Array({ maxLength: 8 }), (kid, ctr, rest) => {
        const kidOnly = encodeHeader(kid, 0n);
        const [ctrHi, ctrLo] = splitU64(ctr);
        const out = new Uint8Array(17 + rest.length);
        const length = writeHeader(out, (kidOnly[0] ?? 0) >> 4, kidOnly.subarray(1), ctrHi, ctrLo);
        expect(length).toBe(headerLength(kidOnly.length - 1, ctrHi, ctrLo));
        expect(out.subarray(0, length)).toEqual(encodeHeader(kid, ctr));
        out.set(rest, length);
        const h: HeaderHalves = { kidHi: -1, kidLo: -1, ctrHi: -1, ctrLo: -1, length: -1 };
        readHeader(out.subarray(0, length + rest.length), h);
        expect(h).toEqual({ kidHi: splitU64(kid)[0], kidLo: splitU64(kid)[1], ctrHi, ctrLo, length });
      }),
      { numRuns: 5000 },
    );
  });

  it('readHeader rejects exactly what decodeHeader rejects, with the same code', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 20 }), (frame) => {
        const h: HeaderHalves = { kidHi: 0, kidLo: 0, ctrHi: 0, ctrLo: 0, length: 0 };
        expect(
          codeOf(() => {
            readHeader(frame, h);
          }),
        ).toBe(codeOf(() => decodeHeader(frame)));
      }),
      { numRuns: 5000 },
    );
  });
});
