/** Code-unit string order: locale-independent, so every sort is deterministic everywhere. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
