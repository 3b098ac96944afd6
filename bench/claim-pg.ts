/**
 * `npm run bench -- claim-pg`: placement claims under contention on
 * PostgreSQL. K = 4 brokers' stores (`PostgresStore.open`, a pool each, one
 * database) race to claim the same meeting: all K calls of
 * `claimPlacement(meeting, datacenter_k, expectedEpoch, at)` start in the
 * same turn, and exactly one must win (the bench fails otherwise; the losers
 * must get the winner's placement). Two kinds of round, interleaved:
 *
 *   place    a meeting not yet placed (expected epoch 0): the INSERT path
 *   replace  one meeting claimed again at its current epoch: the UPDATE path
 *
 * The baseline, interleaved with them: one claim alone (a fifth store, so its
 * pool is as warm), of the same two kinds, so that
 *
 *   contentionRatio = p50 of a contended claim / p50 of a claim alone
 *
 * says what the race (the row lock queue of the meeting) adds. Latency is
 * from the call to its promise settling, for every claim (winners and
 * losers); `roundMs` is until the last of the K settles. Meetings are made
 * before timing; `statementsPerClaim` counts pg's statements (round trips)
 * per claim, winners and losers alike. 500 rounds of each (60 quick) after 20 warm-up rounds; a
 * fresh database gb_bench_<random> per run, dropped at the end.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { PostgresStore } from '../src/broker/store/postgres-store.js';
import type { ClaimResult } from '../src/broker/store/store.js';
import type { BenchOptions } from './harness.js';
import { countPgQueries, withFreshDatabase } from './pg-bench.js';

const K = 4;
const WARMUP_ROUNDS = 20;

type Kind = 'place' | 'replace';

interface Samples {
  /** Every claim's latency, ms. */
  readonly claimMs: number[];
  /** The winner's latency, ms. */
  readonly winnerMs: number[];
  /** Until the last claim of the round settled, ms. */
  readonly roundMs: number[];
}

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  return withFreshDatabase(opts.log, (url) => measure(opts, url));
}

async function measure(opts: BenchOptions, url: string): Promise<Record<string, unknown>> {
  const rounds = opts.quick ? 60 : 500;
  const stores: PostgresStore[] = [];
  try {
    for (let k = 0; k <= K; k++) stores.push(await PostgresStore.open(url));
    const racers = stores.slice(0, K);
    const solo = stores[K] ?? racers[0];
    const setup = stores[0];
    if (solo === undefined || setup === undefined) throw new Error('no store');
    const at = new Date().toISOString();
    const accountId = `acc_${randomUUID()}`;
    await setup.createAccount({ id: accountId, name: 'Bench', homeCountry: 'US', apiKeyHash: randomUUID(), createdAt: at });
    const newMeeting = async (): Promise<string> => {
      const id = `mtg_${randomUUID()}`;
      await setup.createMeeting({ id, accountId, title: 'Benchmark', createdAt: at });
      return id;
    };
    const total = WARMUP_ROUNDS + rounds;
    const fresh = { contended: [] as string[], solo: [] as string[] };
    for (let r = 0; r < total; r++) {
      fresh.contended.push(await newMeeting());
      fresh.solo.push(await newMeeting());
    }
    const again = { contended: { id: await newMeeting(), epoch: 0 }, solo: { id: await newMeeting(), epoch: 0 } };
    opts.log(`${K} racing stores and one alone; ${2 * total + 2} meetings made`);

    const empty = (): Samples => ({ claimMs: [], winnerMs: [], roundMs: [] });
    const samples = { contended: { place: empty(), replace: empty() }, solo: { place: empty(), replace: empty() } };
    /** One round: every store of `who` claims `meeting` at `epoch` in the same turn; checks one winner. */
    const race = async (who: readonly PostgresStore[], meeting: string, epoch: number, into: Samples | undefined): Promise<number> => {
      const start = performance.now();
      const settled = await Promise.all(
        who.map(async (store, k) => {
          const result: ClaimResult = await store.claimPlacement(meeting, `dc-${String(k)}`, epoch, new Date().toISOString());
          return { result, ms: performance.now() - start };
        }),
      );
      const roundMs = performance.now() - start;
      const winners = settled.filter((s) => s.result.won);
      const winner = winners[0];
      if (winners.length !== 1 || winner === undefined) throw new Error(`meeting ${meeting} at epoch ${epoch}: ${winners.length} winners of ${who.length} claims`);
      const placed = winner.result.placement;
      if (placed.epoch !== epoch + 1) throw new Error(`meeting ${meeting}: the winner placed epoch ${placed.epoch}, expected ${epoch + 1}`);
      for (const s of settled) {
        if (s.result.placement.epoch !== placed.epoch || s.result.placement.datacenter !== placed.datacenter) throw new Error(`meeting ${meeting}: a loser saw placement ${JSON.stringify(s.result.placement)}, not the winner's`);
      }
      if (into) {
        for (const s of settled) into.claimMs.push(s.ms);
        into.winnerMs.push(winner.ms);
        into.roundMs.push(roundMs);
      }
      return placed.epoch;
    };

    const queries = countPgQueries();
    queries.take();
    for (let r = 0; r < total; r++) {
      const timedRound = r >= WARMUP_ROUNDS;
      const pick = <T>(s: { place: T; replace: T }, kind: Kind): T | undefined => (timedRound ? s[kind] : undefined);
      // Each round starts with a different one of the four, so that none always follows the same one.
      const steps: (() => Promise<unknown>)[] = [
        () => race(racers, fresh.contended[r] ?? '', 0, pick(samples.contended, 'place')),
        async () => {
          again.contended.epoch = await race(racers, again.contended.id, again.contended.epoch, pick(samples.contended, 'replace'));
        },
        () => race([solo], fresh.solo[r] ?? '', 0, pick(samples.solo, 'place')),
        async () => {
          again.solo.epoch = await race([solo], again.solo.id, again.solo.epoch, pick(samples.solo, 'replace'));
        },
      ];
      for (let s = 0; s < steps.length; s++) await steps[(s + r) % steps.length]?.();
      if ((r + 1) % 100 === 0) opts.log(`round ${r + 1}/${total}`);
    }

    // Every claim of every round, warm-up included: (K + 1) × 2 per round.
    const statementsPerClaim = (queries.take().geobridge ?? 0) / (total * (K + 1) * 2);
    const pct = (values: readonly number[], q: number): number => {
      const sorted = [...values].sort((a, b) => a - b);
      return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
    };
    const summary = (s: Samples, contended: boolean): Record<string, number> => ({
      p50Ms: pct(s.claimMs, 0.5),
      p99Ms: pct(s.claimMs, 0.99),
      ...(contended ? { winnerP50Ms: pct(s.winnerMs, 0.5), winnerP99Ms: pct(s.winnerMs, 0.99), roundP50Ms: pct(s.roundMs, 0.5), roundP99Ms: pct(s.roundMs, 0.99) } : {}),
    });
    const contendedAll = [...samples.contended.place.claimMs, ...samples.contended.replace.claimMs];
    const soloAll = [...samples.solo.place.claimMs, ...samples.solo.replace.claimMs];
    return {
      contentionRatio: pct(contendedAll, 0.5) / pct(soloAll, 0.5),
      p50Ms: pct(contendedAll, 0.5),
      p99Ms: pct(contendedAll, 0.99),
      soloP50Ms: pct(soloAll, 0.5),
      soloP99Ms: pct(soloAll, 0.99),
      place: summary(samples.contended.place, true),
      replace: summary(samples.contended.replace, true),
      soloPlace: summary(samples.solo.place, false),
      soloReplace: summary(samples.solo.replace, false),
      statementsPerClaim,
      oneWinnerPerRound: true,
      brokers: K,
      rounds,
      claims: contendedAll.length + soloAll.length,
    };
  } finally {
    for (const store of stores) await store.close();
  }
}
