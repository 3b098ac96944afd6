/**
 * The CBOR subset of route tickets: RFC 8949 Appendix A's examples that fall
 * inside it, one spelling per value (every other spelling refused), and
 * fuzzing: any bytes decode to a value that encodes back to them, or fail
 * with CborError.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CborError, decodeCbor, encodeCbor, type CborValue } from './cbor.js';

const hex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** RFC 8949 Appendix A, the examples this subset carries (all in their deterministic form). */
const APPENDIX_A: readonly [CborValue, string][] = [
  [0, '00'],
  [1, '01'],
  [10, '0a'],
  [23, '17'],
  [24, '1818'],
  [25, '1819'],
  [100, '1864'],
  [1000, '1903e8'],
  [1000000, '1a000f4240'],
  [1000000000000, '1b000000e8d4a51000'],
  [-1, '20'],
  [-10, '29'],
  [-100, '3863'],
  [-1000, '3903e7'],
  [false, 'f4'],
  [true, 'f5'],
  [new Uint8Array(), '40'],
  [hex('01020304'), '4401020304'],
  ['', '60'],
  ['a', '6161'],
  ['IETF', '6449455446'],
  ['"\\', '62225c'],
  ['\u00fc', '62c3bc'],
  ['\u6c34', '63e6b0b4'],
  ['\u{10151}', '64f0908591'],
  [[], '80'],
  [[1, 2, 3], '83010203'],
  [[1, [2, 3], [4, 5]], '8301820203820405'],
  [Array.from({ length: 25 }, (_, i) => i + 1), '98190102030405060708090a0b0c0d0e0f101112131415161718181819'],
  [new Map(), 'a0'],
  [new Map([[1, 2], [3, 4]]), 'a201020304'],
  [new Map<string, CborValue>([['a', 1], ['b', [2, 3]]]), 'a26161016162820203'],
  [['a', new Map([['b', 'c']])], '826161a161626163'],
];

describe('CBOR (RFC 8949, the deterministic subset)', () => {
  it.each(APPENDIX_A.map(([value, encoded]) => ({ value, encoded })))('$encoded', ({ value, encoded }) => {
    expect(toHex(encodeCbor(value))).toBe(encoded);
    expect(decodeCbor(hex(encoded))).toEqual(value);
  });

  it('sorts map keys bytewise (§4.2.1): shorter heads first, integers before text', () => {
    const map = new Map<number | string, CborValue>([['b', 1], [-1, 2], [100, 3], ['a', 4], [10, 5]]);
    expect(toHex(encodeCbor(map))).toBe('a50a05186403200261610461620' + '1');
  });

  it('refuses every other spelling, naming the byte', () => {
    const refused: readonly [string, string][] = [
      ['1817', 'head longer than its value needs'],
      ['190017', 'head longer than its value needs'],
      ['5f4101ff', 'indefinite lengths'],
      ['9fff', 'indefinite lengths'],
      ['a2030401 02', 'out of deterministic order'],
      ['a201020102', 'out of deterministic order, or repeated'],
      ['c11a514b67b0', 'tags'],
      ['f93c00', 'only true and false'],
      ['f6', 'only true and false'],
      ['62c328', 'not UTF-8'],
      ['a1800 1', 'map key'],
      ['0000', 'trailing bytes'],
      ['4401', 'ends early'],
      ['1b0020000000000000', 'out of range'],
      ['3b001fffffffffffff', 'out of range'],
      ['', 'ends early'],
      [`${'81'.repeat(40)}00`, 'nested too deep'],
    ];
    for (const [bytes, why] of refused) {
      expect(() => decodeCbor(hex(bytes.replaceAll(' ', ''))), bytes).toThrow(CborError);
      expect(() => decodeCbor(hex(bytes.replaceAll(' ', ''))), bytes).toThrow(why);
    }
  });

  it('encodes only what it can decode: unsafe integers and repeated keys are refused', () => {
    expect(() => encodeCbor(2 ** 53)).toThrow(RangeError);
    expect(() => encodeCbor(1.5)).toThrow(RangeError);
    expect(() => encodeCbor(new Map([[1.5, 1]]))).toThrow('a CBOR map key here is a safe integer or a text string, not 1.5');
    expect(() => encodeCbor(new Map([[true as unknown as number, 1]]))).toThrow('not boolean');
  });

  const value: fc.Arbitrary<CborValue> = fc.letrec<{ v: CborValue }>((tie) => ({
    v: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.maxSafeInteger(),
      fc.boolean(),
      fc.string({ unit: 'binary' }),
      fc.uint8Array({ maxLength: 40 }),
      fc.array(tie('v'), { maxLength: 4 }),
      fc.uniqueArray(fc.tuple(fc.oneof(fc.integer(), fc.maxSafeInteger(), fc.string(), fc.string({ unit: 'binary', maxLength: 30 })), tie('v')), { maxLength: 4, selector: ([k]) => k }).map((entries) => new Map(entries)),
    ),
  })).v;

  it('round-trips values larger than the encoder’s first buffer, in every head length', () => {
    const big: CborValue[] = [
      'é'.repeat(400),
      new Uint8Array(70_000).map((_, i) => i % 251),
      Array.from({ length: 300 }, (_, i) => `datacenter-${String(i)}`),
      new Map<number | string, CborValue>(Array.from({ length: 200 }, (_, i) => [i % 2 === 0 ? i * 1000 : `k${'é'.repeat(i % 5)}${String(i)}`, 'x'.repeat(i)])),
      [2 ** 40, -(2 ** 40), 2 ** 32, 0xffff, 0x10000, 255, 256, -24, -25],
    ];
    for (const v of big) {
      const encoded = encodeCbor(v);
      expect(decodeCbor(encoded)).toEqual(v);
      expect(toHex(encodeCbor(decodeCbor(encoded)))).toBe(toHex(encoded));
    }
  });

  it('round-trips any value, to one encoding', () => {
    fc.assert(
      fc.property(value, (v) => {
        const encoded = encodeCbor(v);
        const decoded = decodeCbor(encoded);
        expect(decoded).toEqual(v);
        expect(toHex(encodeCbor(decoded))).toBe(toHex(encoded));
      }),
      { numRuns: 2000 },
    );
  });

  it('fuzzed bytes decode to a value that encodes back to exactly them, or fail with CborError', () => {
    const anyBytes = fc.oneof(fc.uint8Array({ maxLength: 64 }), value.map((v) => encodeCbor(v)).chain((b) => fc.tuple(fc.constant(b), fc.nat(b.length), fc.integer({ min: 0, max: 255 })).map(([x, i, byte]) => {
      const copy = x.slice();
      if (i < copy.length) copy[i] = byte;
      return copy;
    })));
    fc.assert(
      fc.property(anyBytes, (bytes) => {
        let decoded: CborValue;
        try {
          decoded = decodeCbor(bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(CborError);
          return;
        }
        expect(toHex(encodeCbor(decoded))).toBe(toHex(bytes));
      }),
      { numRuns: 20000 },
    );
  });
});
