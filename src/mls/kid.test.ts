// The KID layout of RFC 9605 §5.2 as we fixed it (kid.ts): round trips, bounds, and short headers.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeHeader } from '../sframe/index.js';
import { firstCounter, KID_CONTEXT_BITS, KID_EPOCH_BITS, KID_SENDER_BITS, kid, parseKid } from './kid.js';

const epochs = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const senders = fc.integer({ min: 0, max: 2 ** KID_SENDER_BITS - 1 });
const contexts = fc.bigInt({ min: 0n, max: (1n << BigInt(KID_CONTEXT_BITS)) - 1n });

describe('kid(epoch, senderIndex, context)', () => {
  it('uses all 64 bits: 44 context, 16 sender, 4 epoch', () => {
    expect(KID_CONTEXT_BITS + KID_SENDER_BITS + KID_EPOCH_BITS).toBe(64);
    expect(kid(0n, 0)).toBe(0n);
    expect(kid(5n, 0)).toBe(5n);
    expect(kid(17n, 0)).toBe(1n);
    expect(kid(3n, 2)).toBe(0x23n);
    expect(kid(0n, 0, 1n)).toBe(1n << 20n);
    expect(kid((1n << 64n) - 1n, 2 ** 16 - 1, (1n << 44n) - 1n)).toBe((1n << 64n) - 1n);
  });

  it('round-trips: parseKid gives back context, sender and the epoch mod 16', () => {
    fc.assert(
      fc.property(epochs, senders, contexts, (epoch, sender, context) => {
        const value = kid(epoch, sender, context);
        expect(value >= 0n && value < 1n << 64n).toBe(true);
        expect(parseKid(value)).toEqual({ context, senderIndex: sender, epochBits: epoch % 16n });
      }),
      { numRuns: 2000 },
    );
  });

  it('parseKid then kid is the identity on every 64-bit KID', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (value) => {
        const { context, senderIndex, epochBits } = parseKid(value);
        expect(kid(epochBits, senderIndex, context)).toBe(value);
      }),
      { numRuns: 2000 },
    );
  });

  it('gives distinct KIDs to distinct senders of one epoch, and to one sender in consecutive epochs', () => {
    fc.assert(
      fc.property(epochs, senders, senders, (epoch, a, b) => {
        fc.pre(a !== b);
        expect(kid(epoch, a)).not.toBe(kid(epoch, b));
        expect(kid(epoch, a)).not.toBe(kid(epoch + 1n, a));
      }),
    );
  });

  it('refuses values that do not fit (MLS_BAD_KID)', () => {
    for (const bad of [() => kid(-1n, 0), () => kid(0n, -1), () => kid(0n, 2 ** 16), () => kid(0n, 1.5), () => kid(0n, 0, 1n << 44n), () => kid(0n, 0, -1n), () => parseKid(-1n), () => parseKid(1n << 64n)]) {
      expect(bad).toThrow(expect.objectContaining({ code: 'MLS_BAD_KID' }));
    }
  });

  it('keeps SFrame headers short for small meetings', () => {
    expect(encodeHeader(kid(7n, 0), 0n)).toHaveLength(1);
    expect(encodeHeader(kid(9n, 15), 0n)).toHaveLength(2);
    expect(encodeHeader(kid(9n, 4095), 0n)).toHaveLength(3);
  });

  it('gives each connection of a member in one epoch its own CTR range, and refuses counts that do not fit', () => {
    expect(firstCounter(0)).toBe(0n);
    expect(firstCounter(1)).toBe(1n << 40n);
    expect(firstCounter(2) - firstCounter(1)).toBe(1n << 40n);
    expect(firstCounter((1 << 24) - 1) + (1n << 40n)).toBe(1n << 64n);
    for (const bad of [-1, 1.5, 1 << 24]) expect(() => firstCounter(bad)).toThrow(expect.objectContaining({ code: 'MLS_BAD_KID' }));
  });
});
