/**
 * Diagnostics: what the parser and the verifier report. Every code is in
 * DIAGNOSTIC_CODES with its severity, a summary and how to fix it; a test
 * keeps docs/errors.md in sync with this table.
 */
import { compareStrings } from './order.js';

/** How bad a finding is: errors fail `check`; warnings fail it only with --strict. */
export type Severity = 'error' | 'warning';

/** A place in a source file (1-based line and column). */
export interface SourcePosition {
  readonly line: number;
  readonly column: number;
}

/** A second place that explains a diagnostic (the fence it crosses, the countries it affects). */
export interface RelatedLocation extends SourcePosition {
  readonly path: string;
  readonly message: string;
}

/** One finding, located at file:line:col. */
export interface Diagnostic extends SourcePosition {
  readonly code: DiagnosticCode;
  readonly severity: Severity;
  readonly file: string;
  /** Dotted path of the field, e.g. `zones.north-america.secondaries[2]`. */
  readonly path: string;
  readonly message: string;
  readonly related: readonly RelatedLocation[];
}

interface CodeInfo {
  readonly severity: Severity;
  readonly summary: string;
  readonly fix: string;
}

/** Every diagnostic code, its severity, what it means and how to fix it. */
export const DIAGNOSTIC_CODES = {
  GB_YAML_SYNTAX: { severity: 'error', summary: 'The file is not valid YAML.', fix: 'Fix the syntax at the position shown (indentation, an unclosed bracket or quote).' },
  GB_UNSUPPORTED_VERSION: { severity: 'error', summary: '`version` is missing or not 1.', fix: 'Start the manifest with `version: 1`.' },
  GB_UNKNOWN_FIELD: { severity: 'error', summary: 'A field that the format does not have (often a typo that would silently weaken a rule).', fix: 'Rename it to the field suggested, or remove it; see docs/manifest.md.' },
  GB_MISSING_FIELD: { severity: 'error', summary: 'A required field is absent.', fix: 'Add the field named in the message.' },
  GB_INVALID_TYPE: { severity: 'error', summary: 'A field has the wrong type (e.g. a list where a map is expected).', fix: 'Write the value in the shape given in docs/manifest.md.' },
  GB_INVALID_VALUE: { severity: 'error', summary: 'A value is out of its range (negative capacity, latitude beyond 90, utilization above 1…).', fix: 'Use a value inside the range given in the message.' },
  GB_INVALID_ID: { severity: 'error', summary: 'An id is not a valid name.', fix: 'Ids start with a letter and use letters, digits, `-`, `_` or `.`; group names must not be two capital letters (that is a country code).' },
  GB_DUPLICATE_ID: { severity: 'error', summary: 'The same id or fence name is defined twice.', fix: 'Rename or merge one of the two definitions.' },
  GB_INVALID_CODE: { severity: 'error', summary: 'Not an ISO 3166-1 alpha-2 country code and not a defined group.', fix: 'Use an upper-case two-letter code (e.g. `DE`), or define the group under `groups:`.' },
  GB_UNKNOWN_GROUP: { severity: 'error', summary: 'A group name that `groups:` does not define.', fix: 'Define the group under `groups:` or correct its spelling.' },
  GB_GROUP_CYCLE: { severity: 'error', summary: 'Groups include each other in a cycle.', fix: 'Break the cycle: a group may include other groups only if they do not include it back.' },
  GB_WILDCARD_MISPLACED: { severity: 'error', summary: "`'*'` or `'!CC'` used where it has no meaning.", fix: "Use `'*'` only in zone `countries` and fence `clients`, and `'!CC'` only in fence `clients`." },
  GB_FENCE_RULE: { severity: 'error', summary: 'A fence must have exactly one of `allow` and `deny`.', fix: 'Keep one of the two lists; split the fence in two if you need both.' },
  GB_UNKNOWN_DATACENTER: { severity: 'error', summary: 'A zone lists a datacenter that `datacenters:` does not define.', fix: 'Define the datacenter or correct the id.' },
  GB_DUPLICATE_LIST_ENTRY: { severity: 'error', summary: 'A datacenter appears twice in one zone (twice in a list, or as both primary and secondary).', fix: 'Keep it in one place only.' },
  GB_COUNTRY_IN_TWO_ZONES: { severity: 'error', summary: 'A country is claimed by two zones, so its lists are ambiguous.', fix: 'Remove the country from one of the zones.' },
  GB_MULTIPLE_WILDCARD_ZONES: { severity: 'error', summary: "More than one zone uses `'*'`.", fix: "Keep `'*'` in one zone only." },
  GB_NO_PRIMARIES: { severity: 'error', summary: 'A zone has no primaries.', fix: 'List at least one datacenter under `primaries`.' },
  GB_FENCE_CROSSED: { severity: 'error', summary: 'A zone lists a datacenter whose jurisdiction a fence forbids for some of the zone’s countries (the 2020 incident).', fix: 'Remove the datacenter from the list, or move the affected countries to a zone whose lists stay inside the fence. Never widen the fence to make this pass.' },
  GB_ICE_OUTSIDE_FENCE: { severity: 'error', summary: 'A datacenter declares a STUN/TURN server whose jurisdiction a fence forbids for participants the datacenter serves: a TURN server there would relay their media across the fence, a STUN server would learn their addresses there.', fix: 'Remove the server from the datacenter’s `ice`, or replace it with one in a jurisdiction every fence of those participants allows (usually the datacenter’s own). Never widen the fence to make this pass.' },
  GB_ICE_JURISDICTION_CONFLICT: { severity: 'error', summary: 'One STUN/TURN host is declared in two jurisdictions: one declaration is wrong, or the name resolves to servers in several countries, and fences cannot be checked against it.', fix: 'Correct the wrong `jurisdiction`; for a service with relays in several countries, declare one host name per country (an anycast or geo-DNS name has no jurisdiction).' },
  GB_NO_PRIMARY_IN_FENCE: { severity: 'error', summary: 'Countries of a zone have no primary inside their fences: they would be served only by backups, or refused.', fix: 'Add an in-fence datacenter to the zone’s primaries, or move the countries to another zone.' },
  GB_NO_STORE_IN_FENCE: { severity: 'error', summary: 'The manifest declares record stores, and the fences of some served countries permit none of them: the broker would have nowhere to keep those participants’ records and would refuse them.', fix: 'Declare a store in a jurisdiction those countries’ fences permit (usually their own region), or remove `stores:` to keep every record in the broker’s one store. Never widen the fence to make this pass.' },
  GB_FENCE_BINDS_NOBODY: { severity: 'warning', summary: 'A fence’s `clients` resolve to no country, so it protects nobody.', fix: "Check the `clients` list; `'!CC'` only subtracts, so start with `'*'` or a country." },
  GB_COUNTRY_UNZONED: { severity: 'warning', summary: 'Countries belong to no zone; their participants are always refused.', fix: "Add them to a zone, or add a zone with `countries: ['*']`." },
  GB_PLAN_WITHOUT_DATACENTER: { severity: 'warning', summary: 'No datacenter carries all of a plan’s tags, so its participants are always refused.', fix: 'Tag datacenters for the plan, or correct the plan’s tags.' },
  GB_CAPACITY_N1: { severity: 'warning', summary: 'After losing its largest in-fence datacenter, a zone’s in-fence capacity is below its forecast demand.', fix: 'Add in-fence capacity to the zone’s lists (never a datacenter outside the fence), or lower the forecast if it is wrong.' },
  GB_FEW_SECONDARIES: { severity: 'warning', summary: 'A zone has fewer in-fence secondaries than `selection.secondaries`, while in-fence datacenters are left off its lists.', fix: 'Add the in-fence datacenters named in the message to the zone’s `secondaries`.' },
  GB_LOCATION_OUTSIDE_JURISDICTION: { severity: 'warning', summary: 'A datacenter’s `location` lies clearly outside its `jurisdiction`: more than 100 km from that country’s territory, and inside or nearer another country.', fix: 'Correct `location` (latitude and longitude swapped, a lost minus sign, another datacenter’s coordinates), or `jurisdiction` if the datacenter really is where `location` says. Fences go by jurisdiction, so the two must agree.' },
} as const satisfies Record<string, CodeInfo>;

/** A code from DIAGNOSTIC_CODES. */
export type DiagnosticCode = keyof typeof DIAGNOSTIC_CODES;

/** Builds a diagnostic with the code's own severity. */
export function diagnostic(
  code: DiagnosticCode,
  file: string,
  path: string,
  at: SourcePosition,
  message: string,
  related: readonly RelatedLocation[] = [],
): Diagnostic {
  return { code, severity: DIAGNOSTIC_CODES[code].severity, file, path, line: at.line, column: at.column, message, related };
}

/** Orders diagnostics by file, line, column, code, then message (a total order). */
export function compareDiagnostics(a: Diagnostic, b: Diagnostic): number {
  return (
    compareStrings(a.file, b.file) ||
    a.line - b.line ||
    a.column - b.column ||
    compareStrings(a.code, b.code) ||
    compareStrings(a.message, b.message)
  );
}
