/**
 * What the console's what-if page reads (docs/console.md#what-if): with some
 * datacenters down and some zones' demand raised, on the manifest in force,
 *  - every country's first datacenter, from the decider (`selectRoute`), and
 *  - the load the simulator settles at (src/sim/steady-state.ts): each zone
 *    at its forecast with everything up, against the what-if.
 * Nothing changes. The simulator runs in tens of milliseconds on world.yaml
 * and about a second on a 1,000-datacenter manifest: the broker calls this
 * in a worker thread (what-if-runner.ts).
 */
import { GeobridgeError } from '../../core/errors.js';
import { ALL_COUNTRY_CODES } from '../../core/geo/countries.js';
import type { Manifest } from '../../core/manifest/types.js';
import { isRefusal, selectRoute, type LiveState } from '../../core/select/select.js';
import type { ConsoleWhatIf } from '../../protocol/console-answers.js';
import { MEASURED_MINUTES, SESSION_MINUTES, steadyState, WARMUP_MINUTES, type SteadyState } from '../../sim/steady-state.js';

/** Most participants a zone's demand may be raised to: a thousand times world.yaml's largest forecast. */
export const MAX_ZONE_DEMAND = 1_000_000_000;

/** The what-if's two inputs, as the query string gives them. */
export interface WhatIfQuery {
  /** Datacenter ids, comma-separated. */
  readonly down?: string;
  /** `zone:participants` pairs, comma-separated; a zone not named keeps its forecast. */
  readonly demand?: string;
}

/** The forecast steady state of each manifest object: it depends on nothing else. */
const forecasts = new WeakMap<Manifest, SteadyState>();

/** Answers a what-if on `manifest`, or throws VALIDATION naming what the query got wrong. */
export function whatIf(manifest: Manifest, query: WhatIfQuery): ConsoleWhatIf {
  const down = readDown(manifest, query.down ?? '');
  const forecast = new Map(manifest.zones.map((z) => [z.id, z.demand ?? 0]));
  const demand = new Map([...forecast, ...readDemand(manifest, query.demand ?? '')]);
  let before = forecasts.get(manifest);
  if (!before) {
    before = steadyState(manifest, { down: [], demand: forecast });
    forecasts.set(manifest, before);
  }
  return {
    down,
    ...firstChoices(manifest, down),
    zones: manifest.zones.map((z) => ({ zone: z.id, forecast: forecast.get(z.id) ?? 0, demand: demand.get(z.id) ?? 0 })),
    simulation: {
      sessionMinutes: SESSION_MINUTES,
      warmupMinutes: WARMUP_MINUTES,
      measuredMinutes: MEASURED_MINUTES,
      before: answerOf(before),
      after: answerOf(steadyState(manifest, { down, demand })),
    },
  };
}

function answerOf(s: SteadyState): ConsoleWhatIf['simulation']['before'] {
  return { maxUtilization: s.maxUtilization, datacenters: [...s.datacenters], refused: [...s.refused], shortfall: [...s.shortfall] };
}

function readDown(manifest: Manifest, text: string): string[] {
  const known = new Set(manifest.datacenters.map((d) => d.id));
  const down = [...new Set(text.split(',').map((s) => s.trim()).filter(Boolean))];
  const unknown = down.filter((d) => !known.has(d));
  if (unknown.length > 0) throw new GeobridgeError('VALIDATION', `down: not datacenters of the manifest in force: ${unknown.join(', ')}.`);
  return down;
}

function readDemand(manifest: Manifest, text: string): Map<string, number> {
  const zones = new Set(manifest.zones.map((z) => z.id));
  const demand = new Map<string, number>();
  for (const pair of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const match = /^([^:\s]+)\s*:\s*(\d+)$/.exec(pair);
    const zone = match?.[1] ?? '';
    const n = Number(match?.[2]);
    if (!match) throw new GeobridgeError('VALIDATION', `demand: '${pair}' is not zone:participants (e.g. europe:1500000).`);
    if (!zones.has(zone)) throw new GeobridgeError('VALIDATION', `demand: '${zone}' is not a zone of the manifest in force (${[...zones].join(', ')}).`);
    if (!Number.isSafeInteger(n) || n > MAX_ZONE_DEMAND) throw new GeobridgeError('VALIDATION', `demand: ${zone}'s ${match[2] ?? ''} participants is more than ${MAX_ZONE_DEMAND.toLocaleString('en')}.`);
    demand.set(zone, n);
  }
  return demand;
}

/** Each country whose first datacenter changes with `down` down, and how many countries each datacenter takes first. */
export function firstChoices(manifest: Manifest, down: readonly string[]): Pick<ConsoleWhatIf, 'countries' | 'firstChoices'> {
  const first = (country: string, live: LiveState): { datacenter: string | null; refusal?: string } => {
    const route = selectRoute(manifest, { country }, live);
    return isRefusal(route) ? { datacenter: null, refusal: route.error.code } : { datacenter: route.candidates[0]?.datacenter ?? null };
  };
  const counts = new Map(manifest.datacenters.map((d) => [d.id, { datacenter: d.id, before: 0, after: 0 }]));
  const countries: ConsoleWhatIf['countries'] = [];
  for (const country of ALL_COUNTRY_CODES) {
    const before = first(country, {});
    const after = first(country, { down: new Set(down) });
    countIn(counts, before.datacenter, 'before');
    countIn(counts, after.datacenter, 'after');
    if (before.datacenter !== after.datacenter) countries.push({ country, before: before.datacenter, after: after.datacenter, ...(after.refusal !== undefined ? { refusal: after.refusal } : {}) });
  }
  return { countries, firstChoices: [...counts.values()] };
}

/** Counts one more country on a datacenter's `before` or `after`. */
function countIn(counts: ReadonlyMap<string, { before: number; after: number }>, datacenter: string | null, when: 'before' | 'after'): void {
  const entry = datacenter === null ? undefined : counts.get(datacenter);
  if (entry) entry[when]++;
}
