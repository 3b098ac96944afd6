/** Byte helpers shared by the group and the delivery rule. */

/** True when both byte strings are equal (public values only: not constant-time). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
