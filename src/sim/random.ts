/**
 * Seeded randomness for the simulator: the same seed gives the same run on
 * every machine (the core and the simulator never call Math.random).
 */

/** A source of uniform numbers in [0, 1). */
export type Random = () => number;

/** mulberry32: a small, fast 32-bit generator; plenty for simulation, not for crypto. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A Poisson-distributed count with mean `lambda` (normal approximation above 60). */
export function poisson(random: Random, lambda: number): number {
  if (lambda <= 0) return 0;
  if (lambda > 60) {
    // Box–Muller; the continuity-corrected normal is accurate to well under 1 % here.
    const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * z));
  }
  const limit = Math.exp(-lambda);
  let k = 0;
  for (let p = random(); p > limit; p *= random()) k++;
  return k;
}

/** A binomial count: successes among `n` trials of probability `p` (normal approximation when large). */
export function binomial(random: Random, n: number, p: number): number {
  if (n <= 0 || p <= 0) return 0;
  if (p >= 1) return n;
  const mean = n * p;
  if (mean * (1 - p) > 30) {
    const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    return Math.min(n, Math.max(0, Math.round(mean + Math.sqrt(mean * (1 - p)) * z)));
  }
  // Skip from one success to the next with geometric gaps: O(successes), exact.
  const logq = Math.log(1 - p);
  let count = 0;
  for (let i = Math.floor(Math.log(1 - random()) / logq); i < n; i += 1 + Math.floor(Math.log(1 - random()) / logq)) count++;
  return count;
}

/** Shuffles in place (Fisher–Yates) with the given source. */
export function shuffle<T>(random: Random, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}
