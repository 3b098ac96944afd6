/**
 * A YAML reader that keeps source positions: every value read is located at
 * file:line:col, and every problem becomes a diagnostic rather than an
 * exception. The manifest and scenario parsers are built on it.
 */
import { isMap, isScalar, isSeq, parseDocument, visit, type Node, type Pair } from 'yaml';
import { diagnostic, type Diagnostic, type DiagnosticCode, type SourcePosition } from '../diagnostics.js';

/** Where each field of a parsed document came from, by dotted path. */
export type PositionIndex = ReadonlyMap<string, SourcePosition>;

/** Ids of datacenters, zones, plans, groups…: a letter, then letters, digits, '-', '_', '.'. */
export const ID = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

/** Parses YAML text; syntax errors are reported on the reader and give `root: undefined`. */
export function readYaml(text: string, file: string, document = 'the manifest'): { reader: SourceReader; root: Node | null | undefined } {
  const doc = parseDocument(text, { uniqueKeys: false, prettyErrors: false });
  const reader = new SourceReader(file, lineStarts(text), document);
  if (doc.errors.length > 0) {
    // Nesting past the parser's stack comes back as its own exhaustion: said as what it is, not as a stack overflow.
    for (const e of doc.errors) reader.reportAt('GB_YAML_SYNTAX', '', e.pos[0], e.code === 'RESOURCE_EXHAUSTION' ? `It nests too deep; ${document} needs only a few levels.` : `${e.message}.`);
    return { reader, root: undefined };
  }
  // Aliases and merge keys would let one edit silently change many entries; ask for the values written out.
  visit(doc, {
    Alias(_, node) {
      reader.reportAt('GB_INVALID_TYPE', '', node.range?.[0] ?? 0, `YAML aliases (*${node.source}) are not supported here; write the value out.`);
    },
    Pair(_, pair) {
      if (isScalar(pair.key) && pair.key.value === '<<') {
          reader.reportAt('GB_INVALID_TYPE', '', pair.key.range?.[0] ?? 0, 'YAML merge keys (<<) are not supported here; write the fields out.');
      }
    },
  });
  return { reader, root: reader.diagnostics.length > 0 ? undefined : doc.contents };
}

/** Line start offsets computed from the text itself (the yaml package's counter drifts after recovered errors). */
function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}

/** Collects diagnostics and positions while a document is read. */
export class SourceReader {
  readonly diagnostics: Diagnostic[] = [];
  readonly positions = new Map<string, SourcePosition>();
  readonly file: string;
  /** Offset of the first character of each line. */
  readonly lines: readonly number[];
  /** What the document is, in messages about its top level ('the manifest', 'the scenario'). */
  readonly document: string;

  constructor(file: string, lines: readonly number[], document = 'the manifest') {
    this.file = file;
    this.lines = lines;
    this.document = document;
  }

  get failed(): boolean {
    return this.diagnostics.some((d) => d.severity === 'error');
  }

  at(offset: number): SourcePosition {
    // Binary search for the last line starting at or before `offset`.
    let lo = 0;
    let hi = this.lines.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.lines[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - (this.lines[lo] ?? 0) + 1 };
  }

  posOf(node: Node | null | undefined, fallback: SourcePosition = { line: 1, column: 1 }): SourcePosition {
    const offset = node?.range?.[0];
    return offset === undefined ? fallback : this.at(offset);
  }

  record(path: string, node: Node | null | undefined): SourcePosition {
    const pos = this.posOf(node);
    this.positions.set(path, pos);
    return pos;
  }

  report(code: DiagnosticCode, path: string, node: Node | null | undefined, message: string): void {
    this.diagnostics.push(diagnostic(code, this.file, path, this.posOf(node, this.positions.get(path)), message));
  }

  reportAt(code: DiagnosticCode, path: string, offset: number, message: string): void {
    this.diagnostics.push(diagnostic(code, this.file, path, this.at(offset), message));
  }

}

/** One entry of an id-keyed map. */
export interface Entry {
  readonly key: string;
  readonly keyNode: Node;
  readonly value: Node | null;
  readonly path: string;
}

/** Reads a mapping whose keys are ids (datacenters, zones, …), reporting duplicates and bad ids. */
export function readIdMap(ctx: SourceReader, node: Node | null, path: string, what: string): Entry[] {
  if (!isMap(node)) {
    ctx.report('GB_INVALID_TYPE', path, node, `\`${path}\` must be a map of ${what} ids to their definitions.`);
    return [];
  }
  const entries: Entry[] = [];
  const seen = new Map<string, SourcePosition>();
  for (const pair of node.items as Pair<Node | null, Node | null>[]) {
    const key = keyText(pair.key);
    const entryPath = `${path}.${key ?? '?'}`;
    if (key === undefined || !ID.test(key)) {
      ctx.report('GB_INVALID_ID', path, pair.key, `${what} id ${JSON.stringify(key ?? String(pair.key))} is not valid: start with a letter, then letters, digits, '-', '_' or '.' (64 at most).`);
      continue;
    }
    const first = seen.get(key);
    if (first) {
      ctx.report('GB_DUPLICATE_ID', entryPath, pair.key, `${what} '${key}' is defined twice (first at ${first.line}:${first.column}); rename or merge one.`);
      continue;
    }
    seen.set(key, ctx.record(entryPath, pair.key));
    entries.push({ key, keyNode: pair.key as Node, value: pair.value, path: entryPath });
  }
  return entries;
}

/** Reads a mapping with a fixed set of fields; unknown and missing fields are errors. */
export function readFields(
  ctx: SourceReader,
  node: Node | null,
  path: string,
  fields: Readonly<Record<string, boolean>>,
  owner: Node | null = node,
): Map<string, Node | null> | undefined {
  if (!isMap(node)) {
    ctx.report('GB_INVALID_TYPE', path, node ?? owner, `\`${path || ctx.document}\` must be a map with fields ${Object.keys(fields).join(', ')}.`);
    return undefined;
  }
  const out = new Map<string, Node | null>();
  for (const pair of node.items as Pair<Node | null, Node | null>[]) {
    const key = keyText(pair.key) ?? '';
    const fieldPath = path ? `${path}.${key}` : key;
    if (!(key in fields)) {
      const hint = closest(key, Object.keys(fields));
      ctx.report('GB_UNKNOWN_FIELD', fieldPath, pair.key, `unknown field '${key}' in \`${path || ctx.document}\`${hint ? `; did you mean '${hint}'?` : `; expected one of ${Object.keys(fields).join(', ')}`}.`);
      continue;
    }
    if (out.has(key)) {
      ctx.report('GB_DUPLICATE_ID', fieldPath, pair.key, `field '${key}' is given twice in \`${path || ctx.document}\`; keep one.`);
      continue;
    }
    ctx.record(fieldPath, isScalar(pair.value) || pair.value === null ? (pair.value ?? pair.key) : pair.key);
    out.set(key, pair.value);
  }
  for (const [name, required] of Object.entries(fields)) {
    if (required && !out.has(name)) {
      ctx.report('GB_MISSING_FIELD', path, owner, `\`${path || ctx.document}\` is missing the required field '${name}'.`);
    }
  }
  return out;
}

export function keyText(node: unknown): string | undefined {
  return isScalar(node) && typeof node.value === 'string' ? node.value : undefined;
}

/** Bounds for readNumber. */
export interface NumberRange {
  readonly min?: number;
  readonly max?: number;
  readonly integer?: boolean;
  readonly minExclusive?: boolean;
}

/** Reads a finite number within `range`. */
export function readNumber(ctx: SourceReader, node: Node | null | undefined, path: string, range: NumberRange): number {
  if (node === undefined) return 0;
  const value = isScalar(node) ? node.value : undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    ctx.report('GB_INVALID_TYPE', path, node, `\`${path}\` must be a number${range.integer ? ' (a whole number)' : ''}.`);
    return 0;
  }
  const { min, max, integer, minExclusive } = range;
  const tooLow = min !== undefined && (minExclusive ? value <= min : value < min);
  if ((integer && !Number.isInteger(value)) || tooLow || (max !== undefined && value > max)) {
    const lo = min === undefined ? '' : `${minExclusive ? 'above' : 'at least'} ${min}`;
    const hi = max === undefined ? '' : `at most ${max}`;
    const bounds = [lo, hi].filter(Boolean).join(' and ');
    ctx.report('GB_INVALID_VALUE', path, node, `\`${path}\` is ${value}; it must be ${integer ? 'a whole number ' : ''}${bounds}.`);
  }
  return value;
}

/** Reads a non-empty string. */
export function readString(ctx: SourceReader, node: Node | null | undefined, path: string): string {
  if (node === undefined) return '';
  if (!isScalar(node) || typeof node.value !== 'string' || node.value.trim() === '') {
    ctx.report('GB_INVALID_TYPE', path, node, `\`${path}\` must be a non-empty string.`);
    return '';
  }
  return node.value;
}

/** Reads true or false. */
export function readBoolean(ctx: SourceReader, node: Node | null | undefined, path: string): boolean {
  if (isScalar(node) && typeof node.value === 'boolean') return node.value;
  ctx.report('GB_INVALID_TYPE', path, node, `\`${path}\` must be true or false.`);
  return false;
}


export function readScalarList(ctx: SourceReader, node: Node | null | undefined, path: string, what: string): string[] {
  if (node === undefined) return [];
  if (!isSeq(node)) {
    ctx.report('GB_INVALID_TYPE', path, node, `\`${path}\` must be a list of ${what}, e.g. [a, b].`);
    return [];
  }
  const out: string[] = [];
  (node.items as (Node | null)[]).forEach((item, i) => {
    const itemPath = `${path}[${i}]`;
    ctx.record(itemPath, item);
    if (isScalar(item) && typeof item.value === 'string' && item.value !== '' && !item.tag?.startsWith('!')) out.push(item.value);
    else if (item?.tag?.startsWith('!')) {
      // YAML reads an unquoted !CN as a tag, not as text.
      ctx.report('GB_INVALID_TYPE', itemPath, item, `\`${itemPath}\`: write '${item.tag}' in quotes; unquoted, YAML reads it as a tag.`);
    } else ctx.report('GB_INVALID_TYPE', itemPath, item ?? node, `\`${itemPath}\` must be a string (one of ${what}).`);
  });
  return out;
}


/** The candidate within edit distance 2 of `word`, if any (for "did you mean"). */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row.push(Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1)));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}
