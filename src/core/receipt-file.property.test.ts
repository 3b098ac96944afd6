/**
 * The routing receipt file parser against what a participant's disk may
 * hold: any JSON, and a valid file with one field deleted, retyped, pushed
 * past its bounds, nested deep or joined by a stranger (`__proto__`,
 * `constructor`). It never throws; a refusal names the field broken; a valid
 * file reads back as written; and whatever it accepts holds what `geobridge
 * receipt verify` and `audit prove` rely on (src/cli/commands/receipt.ts,
 * audit.ts), so no file can make them fail with a raw exception.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TIME_MAX_MS } from './time.js';
import { parseRoutingReceiptFile, ROUTING_RECEIPT_FORMAT, type ReceiptFileRoute, type RoutingReceiptFile } from './receipt-file.js';
import { ROUTE_TICKET_MAX_CHARS } from './connection/types.js';

// The format's bounds (receipt-file.ts): names and countries, tokens and hashes, lists.
const TEXT_MAX = 100;
const TOKEN_MAX = 16_384;

type Path = readonly (string | number)[];
/** What a field must be: the parser's check for it, named. */
type Kind = 'format' | 'ticket' | 'token' | 'name' | 'short' | 'count' | 'time' | 'object' | 'objects' | 'tokens' | 'routes';

const KINDS: Readonly<Record<string, Kind>> = {
  format: 'format',
  broker: 'token',
  meeting: 'token',
  createdAt: 'token',
  routes: 'routes',
  ticket: 'ticket',
  decisionId: 'name',
  participant: 'token',
  country: 'short',
  candidates: 'objects',
  receipt: 'object',
  receivedAt: 'token',
  connections: 'objects',
  sth: 'object',
  inclusionProof: 'tokens',
  manifestSha256: 'token',
  index: 'count',
  recordHash: 'token',
  timestamp: 'time',
  keyId: 'token',
  signature: 'token',
  log: 'name',
  size: 'count',
  rootHash: 'token',
  datacenter: 'name',
  jurisdiction: 'name',
  connectedAt: 'token',
  challenge: 'token',
  bridgeProof: 'token',
};
const OPTIONAL = new Set(['meeting', 'log']);
/** Lists of a route whose items the parser does not name: a bad item is "field 'candidates' is malformed". */
const LISTS = new Set(['candidates', 'connections', 'inclusionProof']);

// --- valid files ---

const isoTime = fc.date({ min: new Date(0), max: new Date(Date.UTC(2100, 0)), noInvalidDate: true }).map((d) => d.toISOString());
// Hashes from bytes: regex-driven strings of 64 characters cost most of the run.
const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const hex64 = bytes32.map((b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(''));
const base64Hash = bytes32.map((b) => btoa(String.fromCharCode(...b)));
const logName = fc.stringMatching(/^[a-z][a-z0-9-]{0,11}$/);
const name = fc.oneof({ weight: 9, arbitrary: fc.string({ minLength: 1, maxLength: 12 }) }, { weight: 1, arbitrary: fc.constant('n'.repeat(TEXT_MAX)) });
const token = fc.oneof({ weight: 9, arbitrary: fc.string({ maxLength: 24 }) }, { weight: 1, arbitrary: fc.constant('t'.repeat(TOKEN_MAX)) });
const countArb = fc.oneof(fc.constantFrom(0, 1, Number.MAX_SAFE_INTEGER), fc.nat(), fc.maxSafeNat());
const timeArb = fc.oneof(fc.constantFrom(0, TIME_MAX_MS), fc.bigInt({ min: 0n, max: BigInt(TIME_MAX_MS) }).map(Number));

const promiseArb = fc.record({ manifestSha256: hex64, index: countArb, recordHash: hex64, timestamp: timeArb, keyId: token, signature: token, log: logName }, { requiredKeys: ['manifestSha256', 'index', 'recordHash', 'timestamp', 'keyId', 'signature'] });
const headArb = fc.record({ size: countArb, rootHash: base64Hash, timestamp: timeArb, keyId: token, signature: token, log: logName }, { requiredKeys: ['size', 'rootHash', 'timestamp', 'keyId', 'signature'] });
const routeArb: fc.Arbitrary<ReceiptFileRoute> = fc.record({
  ticket: token,
  decisionId: name,
  participant: token,
  country: fc.oneof(fc.constantFrom('', 'US', 'DE', 'c'.repeat(TEXT_MAX)), fc.string({ maxLength: 3 })),
  candidates: fc.array(fc.record({ datacenter: name, jurisdiction: name }), { maxLength: 3 }),
  receipt: promiseArb,
  receivedAt: isoTime,
  connections: fc.array(fc.record({ datacenter: name, connectedAt: isoTime, challenge: token, bridgeProof: token }), { maxLength: 2 }),
  sth: headArb,
  inclusionProof: fc.oneof({ weight: 9, arbitrary: fc.array(base64Hash, { maxLength: 4 }) }, { weight: 1, arbitrary: fc.array(base64Hash, { minLength: 64, maxLength: 64 }) }),
});
const fileArb: fc.Arbitrary<RoutingReceiptFile> = fc.record(
  { format: fc.constant(ROUTING_RECEIPT_FORMAT), broker: token, meeting: token, createdAt: isoTime, routes: fc.array(routeArb, { minLength: 1, maxLength: 3 }) },
  { requiredKeys: ['format', 'broker', 'createdAt', 'routes'] },
);

// --- values each kind of field refuses ---

/** `{a: {a: …}}` and `[[…]]`, 10,000 deep: the parser must not walk what it does not know. */
const DEEP_OBJECT = Array.from({ length: 10_000 }).reduce<unknown>((inner) => ({ a: inner }), {});
const DEEP_ARRAY = Array.from({ length: 10_000 }).reduce<unknown>((inner) => [inner], []);
const LONG_TOKEN = 'x'.repeat(TOKEN_MAX + 1);
const LONG_TEXT = 'x'.repeat(TEXT_MAX + 1);
/** A route ticket carries its STUN/TURN allowance: it may be longer than the other tokens. */
const LONG_TICKET = 'x'.repeat(ROUTE_TICKET_MAX_CHARS + 1);
/** Every other JSON type, and what JSON.parse makes of "1e400". */
const notString = fc.oneof(fc.constantFrom<unknown>(null, true, false, 0, -1, 0.5, 2 ** 53, Infinity, -Infinity, [], [''], {}, { '': '' }, DEEP_OBJECT, DEEP_ARRAY), fc.double({ noNaN: true }), fc.array(fc.string({ maxLength: 3 }), { maxLength: 2 }));
const notNumber = fc.oneof(fc.constantFrom<unknown>(null, true, '0', '1', 'NaN', 'nan', 'Infinity', '-Infinity', '1e400', '0x10', '-0', '', [], [0], {}, { valueOf: 1 }, DEEP_OBJECT, DEEP_ARRAY), fc.string({ maxLength: 4 }));
const badCount = fc.oneof(notNumber, fc.constantFrom(-1, -0.5, 0.5, 2 ** 53, 2 ** 64, Number.MAX_VALUE, Infinity, -Infinity, -Number.MIN_VALUE), fc.integer({ max: -1 }), fc.double({ noNaN: true }).filter((x) => !Number.isSafeInteger(x) || x < 0));
const BAD: Readonly<Record<Kind, fc.Arbitrary<unknown>>> = {
  format: fc.oneof(notString, fc.constantFrom('', `${ROUTING_RECEIPT_FORMAT} `, ROUTING_RECEIPT_FORMAT.toUpperCase(), 'geobridge-routing-receipt/2', 'geobridge-routing-receipt/01')),
  ticket: fc.oneof(notString, fc.constant(LONG_TICKET)),
  token: fc.oneof(notString, fc.constant(LONG_TOKEN)),
  name: fc.oneof(notString, fc.constantFrom('', LONG_TEXT)),
  short: fc.oneof(notString, fc.constant(LONG_TEXT)),
  count: badCount,
  time: fc.oneof(badCount, fc.constantFrom(TIME_MAX_MS + 1, Number.MAX_SAFE_INTEGER)),
  object: fc.oneof(fc.constantFrom<unknown>(null, true, 0, '', 'x', '[object Object]', [], [{}], {}, { __proto__: null }, DEEP_OBJECT, DEEP_ARRAY), fc.array(fc.jsonValue(), { maxLength: 2 })),
  // 1,001 candidates, each one valid: only the list's length is wrong.
  objects: fc.constantFrom<unknown>(null, 'x', 0, {}, [null], [1], ['x'], [[]], [{}], DEEP_ARRAY, Array.from({ length: 1001 }, () => ({ datacenter: 'a', jurisdiction: 'b' }))),
  tokens: fc.constantFrom<unknown>(null, 'x', 0, {}, [null], [1], [{}], [[]], [LONG_TOKEN], DEEP_ARRAY, Array.from({ length: 65 }, () => 'AAAA')),
  routes: fc.constantFrom<unknown>(null, 'x', 0, {}, [], [null], [1], ['x'], [[]], DEEP_ARRAY, Array.from({ length: 10_001 }, () => ({}))),
};
/** Keys no part of the file has, the prototype's among them. */
const strangerKey = fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'isPrototypeOf', ''), fc.string({ maxLength: 10 }));

// --- editing a file at a path ---

/** Every object key and array item of `value`, depth first. */
function pathsOf(value: unknown, at: Path = []): Path[] {
  if (typeof value !== 'object' || value === null) return [];
  return Object.keys(value).flatMap((key) => {
    const step = Array.isArray(value) ? Number(key) : key;
    return [[...at, step], ...pathsOf((value as Record<string, unknown>)[key], [...at, step])];
  });
}

function kindOf(path: Path): Kind {
  const last = path.at(-1);
  if (typeof last === 'number') return path.at(-2) === 'inclusionProof' ? 'token' : 'object';
  const kind = KINDS[String(last)];
  if (kind === undefined) throw new Error(`no kind for ${path.join('.')}`);
  return kind;
}

function childOf(node: unknown, key: string | number): unknown {
  return (node as Record<string, unknown>)[String(key)];
}

/** A copy of `file` with the value at `path` set (as an own property, as JSON.parse makes `__proto__`) or deleted. */
function edited(file: RoutingReceiptFile, path: Path, edit: { readonly set: unknown } | 'delete'): unknown {
  const copy = structuredClone(file) as unknown;
  const parent = path.slice(0, -1).reduce(childOf, copy) as object;
  const key = String(path.at(-1));
  if (edit === 'delete') Reflect.deleteProperty(parent, key);
  else Object.defineProperty(parent, key, { value: edit.set, enumerable: true, writable: true, configurable: true });
  return copy;
}

/** The objects of `file` that may take a key: the file, its routes, their receipt and sth, candidates and connections. */
function objectPaths(file: RoutingReceiptFile): Path[] {
  return [[], ...pathsOf(file).filter((p) => kindOf(p) === 'object')];
}

/** Where the parser says the problem is (["routes", "0", "receipt", "index"]), and what it is; undefined for any other message. */
function locate(error: string): { readonly at: readonly string[]; readonly problem: string } | undefined {
  const m = /^(?:routes\[(\d+)\](?:\.(receipt|sth))?: )?field '(.*)' is (missing or not an object|missing|malformed|not part of the protocol)$/s.exec(error);
  if (m === null) return undefined;
  const [, route, nested, field = '', problem = ''] = m;
  return { at: [...(route === undefined ? [] : ['routes', route]), ...(nested === undefined ? [] : [nested]), field], problem };
}

/** Where the parser can name a problem at `path`: the field; the list holding an item it does not name; `routes` for a route that is not an object. */
function namedAt(path: Path): string[] {
  const p = path.map(String);
  if (p.length === 2 && p[0] === 'routes') return ['routes'];
  if (p.length >= 4 && p[0] === 'routes' && LISTS.has(p[2] ?? '')) return p.slice(0, 3);
  return p;
}

function isPrefix(a: readonly string[], b: readonly string[]): boolean {
  return a.length <= b.length && a.every((step, i) => step === b[i]);
}

/** The refusal, which must be a non-empty string naming a field on `path` (or inside what replaced it). */
function refusal(value: unknown, path: Path): { readonly error: string; readonly at: readonly string[]; readonly problem: string } {
  const parsed = parseRoutingReceiptFile(value);
  if (parsed.ok) throw new Error(`accepted with ${path.join('.')} broken`);
  expect(parsed.error).not.toBe('');
  const where = locate(parsed.error);
  if (where === undefined) throw new Error(`the error names no field: ${parsed.error}`);
  const p = path.map(String);
  expect(isPrefix(where.at, p) || isPrefix(p, where.at), `${parsed.error} (broke ${p.join('.')})`).toBe(true);
  return { error: parsed.error, ...where };
}

// --- what the CLI reads of an accepted file ---

const isCount = (n: unknown): boolean => Number.isSafeInteger(n) && (n as number) >= 0;
const isString = (s: unknown): boolean => typeof s === 'string';
const isName = (s: unknown): boolean => typeof s === 'string' && s.length > 0;
const isObjectValue = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * What `receipt verify` (checkRoute, plainWords, iso) and `audit prove`
 * (receiptsOf) do with an accepted file, signature checked or not: a file
 * that breaks any of it would crash them with a TypeError or RangeError.
 */
function cliReads(file: RoutingReceiptFile): void {
  expect([file.format, isString(file.broker), isString(file.createdAt), file.meeting === undefined || isString(file.meeting)]).toEqual([ROUTING_RECEIPT_FORMAT, true, true, true]);
  // An empty list would verify vacuously: every route of none is fine.
  expect(Array.isArray(file.routes) && file.routes.length > 0).toBe(true);
  for (const route of file.routes) {
    const { receipt, sth } = route;
    expect([isObjectValue(receipt), isObjectValue(sth)]).toEqual([true, true]);
    // `index + 1`, `sth.size <= index`, BigInt in the signed layout, the leaf index of verifyInclusion.
    expect([isCount(receipt.index), isCount(sth.size), isCount(receipt.timestamp), isCount(sth.timestamp)]).toEqual([true, true, true, true]);
    // iso(): every timestamp is printed once its signature holds.
    expect(() => [receipt.timestamp, sth.timestamp].map((t) => new Date(t).toISOString())).not.toThrow();
    expect([receipt.manifestSha256, receipt.recordHash, receipt.keyId, receipt.signature, sth.rootHash, sth.keyId, sth.signature, route.ticket, route.participant, route.country, route.receivedAt].every(isString)).toBe(true);
    expect([receipt.manifestSha256.slice(0, 12), isName(route.decisionId)]).toEqual([expect.any(String), true]);
    // describeLog and `sth.log !== promise.log`: a store's name, or none.
    expect([receipt.log, sth.log].every((log) => log === undefined || isName(log))).toBe(true);
    // plainWords maps candidates and connections; fromBase64 takes each proof node.
    expect(route.candidates.every((c) => isObjectValue(c) && isName(c.datacenter) && isName(c.jurisdiction))).toBe(true);
    expect(route.connections.every((c) => isObjectValue(c) && isName(c.datacenter) && [c.connectedAt, c.challenge, c.bridgeProof].every(isString))).toBe(true);
    expect(Array.isArray(route.inclusionProof) && route.inclusionProof.length <= 64 && route.inclusionProof.every(isString)).toBe(true);
  }
}

/** The parse of `value`: it never throws, and says ok with the file, or why not in words. */
function parsedShape(value: unknown): ReturnType<typeof parseRoutingReceiptFile> {
  const parsed = parseRoutingReceiptFile(value);
  if (parsed.ok) cliReads(parsed.file);
  else expect(typeof parsed.error === 'string' && parsed.error.length > 0).toBe(true);
  return parsed;
}

const RUNS = { numRuns: 300 };

describe('parseRoutingReceiptFile', () => {
  it('reads every valid file back as written, and what it reads is what the CLI relies on', () => {
    fc.assert(
      fc.property(fileArb, (file) => {
        const parsed = parseRoutingReceiptFile(JSON.parse(JSON.stringify(file)));
        expect(parsed).toEqual({ ok: true, file });
        if (parsed.ok) cliReads(parsed.file);
      }),
      RUNS,
    );
  });

  it('never throws on any JSON value, nor on any JSON value put anywhere in a valid file; a refusal names a field on the path', () => {
    fc.assert(fc.property(fc.jsonValue(), (value) => void parsedShape(value)), RUNS);
    const anywhere = fileArb.chain((file) => fc.tuple(fc.constant(file), fc.constantFrom(...pathsOf(file)), fc.jsonValue({ maxDepth: 3 })));
    fc.assert(
      fc.property(anywhere, ([file, path, value]) => {
        const broken = edited(file, path, { set: value });
        const parsed = parsedShape(broken);
        if (parsed.ok) return;
        if (parsed.error === 'it holds no route') expect(path).toEqual(['routes']);
        else refusal(broken, path);
      }),
      RUNS,
    );
  });

  it('refuses a file with a required field deleted, naming it; an optional one (meeting, log) may go', () => {
    const deletion = fileArb.chain((file) => fc.tuple(fc.constant(file), fc.constantFrom(...pathsOf(file).filter((p) => typeof p.at(-1) === 'string'))));
    fc.assert(
      fc.property(deletion, ([file, path]) => {
        const broken = edited(file, path, 'delete');
        if (OPTIONAL.has(String(path.at(-1)))) {
          expect(parsedShape(broken)).toEqual({ ok: true, file: broken });
          return;
        }
        const { at, problem } = refusal(broken, path);
        expect(at).toEqual(namedAt(path));
        if (at.length === path.length) expect(problem).toMatch(/^missing/);
      }),
      RUNS,
    );
  });

  it('refuses a field of the wrong type, out of bounds, a NaN-like string or nested 10,000 deep, naming the field (or the list holding it)', () => {
    const retyped = fileArb.chain((file) => fc.constantFrom(...pathsOf(file)).chain((path) => fc.tuple(fc.constant(file), fc.constant(path), BAD[kindOf(path)])));
    fc.assert(
      fc.property(retyped, ([file, path, value]) => {
        const broken = edited(file, path, { set: value });
        if (kindOf(path) === 'routes' && Array.isArray(value) && value.length === 0) {
          expect(parseRoutingReceiptFile(broken)).toEqual({ ok: false, error: 'it holds no route' });
          return;
        }
        const { at } = refusal(broken, path);
        // An object in place of an object may be refused for a field inside it; anything else at the field itself.
        if (!isObjectValue(value)) expect(at).toEqual(namedAt(path));
      }),
      { numRuns: 500 },
    );
  });

  it('refuses a key the format does not have, `__proto__` and `constructor` among them, at any depth', () => {
    const added = fileArb.chain((file) =>
      fc.constantFrom(...objectPaths(file)).chain((at) => {
        const present = new Set(Object.keys(at.reduce<unknown>(childOf, file) as object));
        return fc.tuple(fc.constant(file), fc.constant(at), strangerKey.filter((k) => !present.has(k) && !OPTIONAL.has(k)), fc.jsonValue({ maxDepth: 2 }));
      }),
    );
    fc.assert(
      fc.property(added, ([file, at, key, value]) => {
        const path = [...at, key];
        const { at: named, problem } = refusal(edited(file, path, { set: value }), path);
        expect(named).toEqual(namedAt(path));
        if (named.length === path.length) expect(problem).toBe('not part of the protocol');
      }),
      RUNS,
    );
  });

  // Regressions, each as JSON text as a participant's file holds it.
  const valid: RoutingReceiptFile = {
    format: ROUTING_RECEIPT_FORMAT,
    broker: 'https://meet.example',
    createdAt: '2026-03-01T09:15:02.118Z',
    routes: [
      {
        ticket: 'eyJ.x.y',
        decisionId: 'dec_1',
        participant: 'p_1',
        country: 'US',
        candidates: [{ datacenter: 'us-east', jurisdiction: 'US' }],
        receipt: { manifestSha256: 'f'.repeat(64), index: 41, recordHash: 'd'.repeat(64), timestamp: 1_796_234_924_603, keyId: 'k', signature: 's' },
        receivedAt: '2026-03-01T09:00:00.412Z',
        connections: [],
        sth: { size: 57, rootHash: 'A'.repeat(43) + '=', timestamp: 1_796_234_925_012, keyId: 'k', signature: 's' },
        inclusionProof: ['B'.repeat(43) + '='],
      },
    ],
  };
  const text = JSON.stringify(valid);
  const parseText = (json: string): ReturnType<typeof parseRoutingReceiptFile> => parseRoutingReceiptFile(JSON.parse(json));

  it('refuses a timestamp past the last instant a Date holds, which `receipt verify` printed as "internal error: Invalid time value" (exit 70) once its signature held', () => {
    expect(parseText(text)).toMatchObject({ ok: true });
    expect(parseText(text.replace('"timestamp":1796234924603', '"timestamp":8700000000000000'))).toEqual({ ok: false, error: "routes[0].receipt: field 'timestamp' is malformed" });
    expect(parseText(text.replace('"timestamp":1796234925012', `"timestamp":${String(TIME_MAX_MS + 1)}`))).toEqual({ ok: false, error: "routes[0].sth: field 'timestamp' is malformed" });
    expect(parseText(text.replace('"timestamp":1796234925012', `"timestamp":${String(TIME_MAX_MS)}`))).toMatchObject({ ok: true });
  });

  it('refuses `__proto__` and `constructor` as JSON.parse makes them (own keys), "1e400", "-1" and an empty route list', () => {
    expect(parseText(text.replace('{"format"', '{"__proto__":{"polluted":true},"format"'))).toEqual({ ok: false, error: "field '__proto__' is not part of the protocol" });
    expect(parseText(text.replace('"ticket"', '"constructor":{},"ticket"'))).toEqual({ ok: false, error: "routes[0]: field 'constructor' is not part of the protocol" });
    expect(parseText(text.replace('"keyId":"k","signature":"s"}', '"keyId":"k","signature":"s","__proto__":null}'))).toEqual({ ok: false, error: "routes[0].receipt: field '__proto__' is not part of the protocol" });
    expect(parseText(text.replace('"index":41', '"index":1e400'))).toEqual({ ok: false, error: "routes[0].receipt: field 'index' is malformed" });
    expect(parseText(text.replace('"size":57', '"size":-1'))).toEqual({ ok: false, error: "routes[0].sth: field 'size' is malformed" });
    expect(parseText(JSON.stringify({ ...valid, routes: [] }))).toEqual({ ok: false, error: 'it holds no route' });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
