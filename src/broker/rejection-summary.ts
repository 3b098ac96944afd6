/**
 * Bridge messages that fail authentication, summarized. Anyone can send
 * them, without credentials, so each one costs a counter increment and
 * nothing durable: per window (a minute) the counts per channel and code go
 * to the audit log as ONE `bridge.rejected.summary` record, written when the
 * window ends or the broker closes. The metrics count every message at once.
 */
import { isGeobridgeError } from '../core/errors.js';
import { compareStrings } from '../core/order.js';
import { claimedDatacenterOf } from '../protocol/bridge-message.js';
import type { BrokerMetrics } from './metrics.js';

/** One rejected message. */
export interface Rejection {
  /** The path it came in on: a bridge API route, or the presence socket's. */
  readonly channel: string;
  /** The code it was rejected with. */
  readonly code: string;
  /** The datacenter its unverified header claims, when it names one. */
  readonly datacenter?: string | undefined;
}

/** The data of a `bridge.rejected.summary` record (a type, not an interface: it is audit record data, a plain record). */
export type RejectionSummaryData = {
  /** Time of the window's first and last rejection (ISO 8601); the record's own time is when it was written. */
  readonly first: string;
  readonly last: string;
  readonly total: number;
  /** Counts per channel and code, in that order. */
  readonly counts: readonly { readonly channel: string; readonly code: string; readonly count: number }[];
  /** The first datacenters claimed in the window (at most the sample size), with their counts, by id. */
  readonly datacenters: readonly { readonly datacenter: string; readonly count: number }[];
  /** Rejections that claimed a datacenter outside that sample. */
  readonly otherDatacenters: number;
};

/** Calls `callback` once after `delayMs`; returns a function that cancels it. */
export type Schedule = (callback: () => void, delayMs: number) => () => void;

/** Options of a RejectionSummary. */
export interface RejectionSummaryOptions {
  /** The clock the record's times come from. */
  readonly now: () => Date;
  readonly schedule: Schedule;
  /** Writes one summary durably (the audit log). */
  readonly write: (data: RejectionSummaryData) => Promise<void>;
  /** A summary that could not be written (its counts are still in the metrics); what it throws, `close()` rejects with. */
  readonly onWriteError: (error: unknown) => void;
  /** At most one record per window; default one minute. */
  readonly windowMs?: number;
  /** Distinct claimed datacenters kept per window; default 10. */
  readonly sampleSize?: number;
}

/** `setTimeout` that does not keep the process alive for a summary. */
export const timerSchedule: Schedule = (callback, delayMs) => {
  const timer = setTimeout(callback, delayMs);
  timer.unref();
  return () => {
    clearTimeout(timer);
  };
};

interface Window {
  readonly first: string;
  last: string;
  total: number;
  readonly counts: Map<string, { readonly channel: string; readonly code: string; count: number }>;
  readonly datacenters: Map<string, number>;
  otherDatacenters: number;
}

/**
 * Counts rejections and writes them as one summary per window. A window
 * opens at the first rejection after a quiet spell and is written a
 * `windowMs` later, so records are at least that far apart; `close()`
 * writes the open window at once, so nothing counted is lost on shutdown.
 */
export class RejectionSummary {
  readonly #options: RejectionSummaryOptions;
  readonly #writes = new Set<Promise<void>>();
  #window: Window | undefined;
  #cancel: (() => void) | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: RejectionSummaryOptions) {
    this.#options = options;
  }

  /** Counts one rejection; after `close()` only the metrics see it. */
  record(rejection: Rejection): void {
    if (this.#closed) return;
    const at = this.#options.now().toISOString();
    let window = this.#window;
    if (!window) {
      window = { first: at, last: at, total: 0, counts: new Map(), datacenters: new Map(), otherDatacenters: 0 };
      this.#window = window;
      this.#cancel = this.#options.schedule(() => {
        this.#flush();
      }, this.#options.windowMs ?? 60_000);
    }
    window.last = at;
    window.total++;
    // Channels are route paths and codes come from a fixed set, so this map stays small whatever arrives.
    const key = `${rejection.channel}\u0000${rejection.code}`;
    const row = window.counts.get(key);
    if (row) row.count++;
    else window.counts.set(key, { channel: rejection.channel, code: rejection.code, count: 1 });
    const dc = rejection.datacenter;
    if (dc === undefined) return;
    const seen = window.datacenters.get(dc);
    if (seen !== undefined) window.datacenters.set(dc, seen + 1);
    else if (window.datacenters.size < (this.#options.sampleSize ?? 10)) window.datacenters.set(dc, 1);
    else window.otherDatacenters++;
  }

  /** Writes the open window now and stops; resolves when every summary is written. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#cancel?.();
      this.#flush();
      await Promise.all(this.#writes);
    })();
    return this.#closed;
  }

  #flush(): void {
    const window = this.#window;
    this.#window = undefined;
    this.#cancel = undefined;
    if (!window) return;
    const write: Promise<void> = this.#options
      .write(summaryOf(window))
      .catch(this.#options.onWriteError)
      .finally(() => this.#writes.delete(write));
    this.#writes.add(write);
  }
}

function summaryOf(window: Window): RejectionSummaryData {
  return {
    first: window.first,
    last: window.last,
    total: window.total,
    counts: [...window.counts.values()].sort((a, b) => compareStrings(a.channel, b.channel) || compareStrings(a.code, b.code)).map((r) => ({ ...r })),
    datacenters: [...window.datacenters.entries()].sort(([a], [b]) => compareStrings(a, b)).map(([datacenter, count]) => ({ datacenter, count })),
    otherDatacenters: window.otherDatacenters,
  };
}

/** Counts a bridge message that failed authentication (metrics now, audit in the next summary); returns its code. */
export function rejectBridgeMessage(ctx: { readonly metrics: BrokerMetrics; readonly rejections: RejectionSummary }, channel: string, message: string, error: unknown): string {
  const code = isGeobridgeError(error) ? error.code : 'BRIDGE_MESSAGE_INVALID';
  ctx.metrics.bridgeRejections.inc({ code, channel });
  ctx.rejections.record({ channel, code, datacenter: claimedDatacenterOf(message) });
  return code;
}
