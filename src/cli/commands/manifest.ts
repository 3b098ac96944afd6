/**
 * `geobridge manifest log|show`: the broker's manifest history. The
 * transparency log (audit.sqlite, or the PostgreSQL store's) holds, for every
 * manifest the broker put in force, its hash, who applied it and what it
 * changed; the store (broker.sqlite, or PostgreSQL) holds each one whole. This
 * command reads both, read-only, and says where they disagree: a stored text
 * whose hash is not the logged one, or a logged manifest whose text is gone.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditRecord } from '../../broker/audit/audit-log.js';
import { ENV_NAMES } from '../../broker/config.js';
import { PostgresStore } from '../../broker/store/postgres-store.js';
import { readManifestHistory } from '../../broker/store/sqlite-store.js';
import type { ManifestVersion } from '../../broker/store/store.js';
import { GeobridgeError } from '../../core/errors.js';
import { summarizeDiff, type ManifestDiff } from '../../core/verify/diff.js';
import { parseCommandArgs } from '../args.js';
import { auditSource, openAuditLog, requireStoreTables, storeUrlOf, type Env } from '../audit-source.js';
import { EXIT, type Io } from '../io.js';

export const MANIFEST_HELP = `Usage: geobridge manifest log [--data DIR] [--store URL] [--json]
       geobridge manifest show REF [--data DIR] [--store URL]

The manifests a broker has put in force, read from its data directory (DIR
is ./data unless --data is given), or from its PostgreSQL store when it runs
with one (--store); the broker may be running:

  log    one line per manifest, oldest first: its version, when and by whom it
         was applied (startup or admin), its SHA-256, and what it changed (the
         exposure diff the broker logged: countries gaining or losing
         jurisdictions, lists starting to cross a fence, datacenters added or
         removed). The hash, the actor and the change come from the
         transparency log (DIR/audit.sqlite, or the store's); the text from
         the store (DIR/broker.sqlite, or PostgreSQL), whose hash is checked
         against the logged one.
  show   prints manifest REF exactly as it was applied, so that
         'geobridge manifest show REF | sha256sum' gives its hash. REF is a
         SHA-256 (or a prefix of at least 8 hex digits that only one has, as
         route receipts and tickets name it), or a version (v3).

Options:
  --data DIR   the broker's data directory (default ./data)
  --store URL  the broker's PostgreSQL store, when it runs with one
               (serve --store): the manifests and the log are read there,
               DIR is not needed; 'sqlite' reads DIR    [${ENV_NAMES.store}]
  --json       print JSON (log)
  -h, --help   show this help

Exit codes: 0 ok · 1 the history is inconsistent (a stored text whose hash
is not the logged one, or a logged manifest whose text is missing) · 2 bad
input, an unknown or ambiguous REF, or no broker data in DIR or the store

Examples:
  geobridge manifest log --data ./data
  geobridge manifest log --store postgres://geobridge@db.example.com/geobridge
  geobridge manifest show d57985ce > in-force-then.yaml
  geobridge diff <(geobridge manifest show v1) <(geobridge manifest show v2)
`;

/** One manifest of the history, as the log and the store give it. */
export interface ManifestHistoryEntry {
  readonly version: number;
  readonly sha256: string;
  readonly appliedAt: string;
  readonly actor: string;
  /** The audit record that logged it, if any. */
  readonly record?: number;
  readonly change: string;
  /** What disagrees, if anything. */
  readonly problem?: string;
}

/** Runs `manifest`; `env` gives GEOBRIDGE_STORE. */
export function runManifest(argv: readonly string[], io: Io, env: Env = process.env): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h' || sub === 'help' || sub === undefined) {
    io.out(MANIFEST_HELP);
    return Promise.resolve(sub === undefined ? EXIT.badInput : EXIT.ok);
  }
  if (sub === 'log') return runLog(rest, io, env);
  if (sub === 'show') return runShow(rest, io, env);
  throw new GeobridgeError('USAGE', `manifest: unknown subcommand '${sub}': log or show; see 'geobridge manifest --help'.`);
}

async function runLog(argv: readonly string[], io: Io, env: Env): Promise<number> {
  const { values, positionals } = parseCommandArgs('manifest', argv, { data: { type: 'string' }, store: { type: 'string' }, json: { type: 'boolean' } });
  if (values.help) {
    io.out(MANIFEST_HELP);
    return EXIT.ok;
  }
  if (positionals.length > 0) throw new GeobridgeError('USAGE', `manifest log: unexpected argument '${positionals[0] ?? ''}'; see 'geobridge manifest --help'.`);
  const history = await manifestHistory(values.data ?? 'data', storeUrlOf(values.store, env, 'manifest log'));
  if (values.json) io.out(`${JSON.stringify(history, null, 2)}\n`);
  else io.out(renderHistory(history));
  return history.some((h) => h.problem !== undefined) ? EXIT.violations : EXIT.ok;
}

async function runShow(argv: readonly string[], io: Io, env: Env): Promise<number> {
  const { values, positionals } = parseCommandArgs('manifest', argv, { data: { type: 'string' }, store: { type: 'string' } });
  if (values.help) {
    io.out(MANIFEST_HELP);
    return EXIT.ok;
  }
  const [ref, extra] = positionals;
  if (ref === undefined || extra !== undefined) throw new GeobridgeError('USAGE', `manifest show: give one REF (a SHA-256, a prefix of 8+ hex digits, or a version such as v3); see 'geobridge manifest --help'.`);
  const stored = await storedManifests(values.data ?? 'data', storeUrlOf(values.store, env, 'manifest show'));
  const found = pick(stored, ref);
  // Printed only when it is exactly what was applied: its hash is the one that tickets and receipts name.
  const actual = createHash('sha256').update(found.text).digest('hex');
  if (actual !== found.sha256) {
    io.err(`manifest show: the stored text of version ${String(found.version)} hashes to ${actual}, not ${found.sha256}: it was changed after it was applied, so it is not the manifest that decisions name. 'geobridge manifest log' lists what the transparency log records.\n`);
    return EXIT.violations;
  }
  io.out(found.text);
  return EXIT.ok;
}

/** The history of `dataDir`, or of the PostgreSQL store at `storeUrl`: every manifest the log records, joined with the store's text. */
export async function manifestHistory(dataDir: string, storeUrl?: string): Promise<ManifestHistoryEntry[]> {
  const stored = await storedManifests(dataDir, storeUrl);
  const log = await openAuditLog(auditSource(dataDir, storeUrl));
  const logged = await log.readType('manifest.changed').finally(() => log.close());
  // Every record counts: one appended later for a version already logged must not hide the first.
  const byVersion = new Map<number, AuditRecord[]>();
  for (const r of logged) if (typeof r.data.version === 'number') byVersion.set(r.data.version, [...(byVersion.get(r.data.version) ?? []), r]);
  const kept = new Set(stored.map((m) => m.version));
  // Logged as applied, yet the store has no text of it: deleted since, which the history must show.
  const missing = [...byVersion.values()]
    .flat()
    .filter((r) => !kept.has(Number(r.data.version)))
    .map((r): ManifestHistoryEntry => ({
      version: Number(r.data.version),
      sha256: String(r.data.sha256),
      appliedAt: r.at,
      actor: typeof r.data.actor === 'string' ? r.data.actor : 'unknown',
      record: r.seq,
      change: changeOf(r),
      problem: 'the transparency log records it as applied, but the store has no text of it: it was deleted after it was applied',
    }));
  const present = stored.map((m): ManifestHistoryEntry => {
    const records = byVersion.get(m.version) ?? [];
    const record = records[0];
    const actual = createHash('sha256').update(m.text).digest('hex');
    const hashes = [...new Set(records.map((r) => String(r.data.sha256)))];
    const problem =
      actual !== m.sha256
        ? `the stored text hashes to ${actual.slice(0, 12)}…, not ${m.sha256.slice(0, 12)}…: it was changed after it was applied`
        : record === undefined
          ? 'the transparency log has no record of it being applied'
          : hashes.length > 1
            ? `the transparency log records version ${m.version} ${String(records.length)} times, as ${records.map((r) => `${String(r.data.sha256).slice(0, 12)}… (record ${String(r.seq)})`).join(' and ')}: a record was added later to change what was applied`
            : record.data.sha256 !== m.sha256
              ? `the transparency log says version ${m.version} was ${String(record.data.sha256).slice(0, 12)}…, not this text`
              : undefined;
    return {
      version: m.version,
      sha256: m.sha256,
      // When it was applied is the log's word; the store's is only where the log has none.
      appliedAt: record?.at ?? m.createdAt,
      actor: typeof record?.data.actor === 'string' ? record.data.actor : m.actor,
      ...(record ? { record: record.seq } : {}),
      change: changeOf(record),
      ...(problem === undefined ? {} : { problem }),
    };
  });
  return [...present, ...missing].sort((a, b) => a.version - b.version);
}

function changeOf(record: AuditRecord | undefined): string {
  if (record === undefined) return 'unknown';
  if (record.data.previous === null) return 'first manifest';
  const diff = record.data.diff;
  // Records written before diffs were logged at startup carry none.
  return isDiff(diff) ? summarizeDiff(diff) : 'not recorded';
}

function isDiff(value: unknown): value is ManifestDiff {
  if (typeof value !== 'object' || value === null) return false;
  const d = value as Record<string, unknown>;
  return ['exposure', 'crossings', 'iceCrossings', 'zones', 'datacenters'].every((k) => Array.isArray(d[k]));
}

function renderHistory(history: readonly ManifestHistoryEntry[]): string {
  if (history.length === 0) return 'no manifest has been applied yet\n';
  const lines = history.map((h) => `v${h.version}  ${h.appliedAt}  ${h.actor.padEnd(7)}  ${h.sha256.slice(0, 12)}  ${h.change}${h.problem === undefined ? '' : `\n     PROBLEM: ${h.problem}`}`);
  const problems = history.filter((h) => h.problem !== undefined).length;
  const tail = problems === 0 ? `${history.length} manifest(s); each stored text hashes to the logged SHA-256` : `${problems} of ${history.length} manifest(s) disagree with the transparency log`;
  return `${lines.join('\n')}\n${tail}\n`;
}

/** The one manifest REF names, or a clear refusal. */
function pick(stored: readonly ManifestVersion[], ref: string): ManifestVersion {
  const version = /^v?(\d+)$/.exec(ref);
  if (version) {
    const found = stored.find((m) => m.version === Number(version[1]));
    if (found) return found;
    throw new GeobridgeError('NOT_FOUND', `no manifest version ${version[1] ?? ''} (versions 1–${stored.length}); see 'geobridge manifest log'.`);
  }
  const prefix = ref.toLowerCase();
  if (!/^[0-9a-f]{8,64}$/.test(prefix)) throw new GeobridgeError('USAGE', `'${ref}' is neither a SHA-256 (8 to 64 hex digits) nor a version such as v3.`);
  const matches = stored.filter((m) => m.sha256.startsWith(prefix));
  const latest = matches.at(-1);
  // The same text applied again (a new version, the same hash) is one manifest: print it.
  if (latest !== undefined && matches.every((m) => m.sha256 === latest.sha256)) return latest;
  if (matches.length === 0) throw new GeobridgeError('NOT_FOUND', `no manifest with SHA-256 ${prefix}…; see 'geobridge manifest log'.`);
  throw new GeobridgeError('USAGE', `${matches.length} manifests have SHA-256s starting ${prefix} (versions ${matches.map((m) => m.version).join(', ')}); give more digits.`);
}

/** Every stored manifest, oldest first: from the PostgreSQL store at `storeUrl` (none: DIR/broker.sqlite). */
async function storedManifests(dataDir: string, storeUrl: string | undefined): Promise<ManifestVersion[]> {
  if (storeUrl === undefined) return readManifestHistory(storeFile(dataDir));
  // PostgresStore.open creates missing tables; a command that reads must not.
  await requireStoreTables(storeUrl);
  const store = await PostgresStore.open(storeUrl);
  return store.listManifests().finally(() => store.close());
}

/** DIR/broker.sqlite, which must exist. */
function storeFile(dataDir: string): string {
  const file = join(dataDir, 'broker.sqlite');
  if (!existsSync(file)) throw new GeobridgeError('STORE_UNAVAILABLE', `no broker store at '${file}'; pass --data with the broker's data directory.`);
  return file;
}
