/**
 * `geobridge receipt verify`: what a participant (or anyone holding their
 * route answer) can check without the operator's data directory: that the
 * log's signed promise is genuine, and that the broker's latest signed tree
 * head includes that very record (an inclusion proof from the broker,
 * checked here), and extends any head kept from before.
 */
import { hashLeaf, verifyConsistency, verifyInclusion } from '../../translog/index.js';
import { leafEntry } from '../../broker/audit/audit-log.js';
import { checkInclusionPromise, verifyTreeHead, type SignedTreeHead } from '../../broker/audit/tree-heads.js';
import { logPublicKeyFromJwk } from '../../broker/log-key.js';
import { GeobridgeError } from '../../core/errors.js';
import { parseCommandArgs } from '../args.js';
import { brokerUrl, getJson } from '../broker-client.js';
import { readLogKeyFile, readReceiptFile, readTreeHeadFile } from '../log-files.js';
import { EXIT, type Io } from '../io.js';

export const RECEIPT_HELP = `Usage: geobridge receipt verify FILE --broker URL [--log-key FILE] [--sth FILE] [--json]

Checks a routing receipt — a /v1/route answer saved as JSON — against the
broker's transparency log, without its data directory:

  1. the receipt is the log's signed promise (under the log key: pinned with
     --log-key, else fetched from the broker — pin it for a stronger check);
  2. the broker's latest signed tree head holds that very record: the
     broker's inclusion proof (GET /v1/log/proof) leads from it to the root
     the head signs;
  3. with --sth, that head extends the one you kept before (a consistency
     proof), so the log was not rewritten since.

Then it says, in plain words, what the receipt records: the country, the
datacenter and jurisdiction it was sent to first, when, and under which
manifest. With the log itself at hand, 'geobridge audit prove' checks the
same receipt against the records.

Options:
  --broker URL    the broker that routed (http://host:port)
  --log-key FILE  the log key you pinned (the body of GET /v1/log/key)
  --sth FILE      a signed tree head you kept (the body of GET /v1/log/sth)
  --json          print JSON
  -h, --help      show this help

Exit codes: 0 verified · 1 not in the log, or a signature, proof or head
that fails · 2 bad input, or the broker cannot be reached

Example:
  curl -s -X POST $B/v1/route -H "authorization: Bearer $JOIN" -d '{}' > answer.json
  geobridge receipt verify answer.json --broker $B
`;

/** How long a receipt may wait for a signed head to cover it: the promise is one interval, plus slack. */
const COVER_WAIT_MS = 3000;

/** Runs `receipt`. */
export async function runReceipt(argv: readonly string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h' || sub === 'help' || sub === undefined) {
    io.out(RECEIPT_HELP);
    return sub === undefined ? EXIT.badInput : EXIT.ok;
  }
  if (sub !== 'verify') throw new GeobridgeError('USAGE', `receipt: unknown subcommand '${sub}': verify; see 'geobridge receipt --help'.`);
  const { values, positionals } = parseCommandArgs('receipt', rest, { broker: { type: 'string' }, 'log-key': { type: 'string' }, sth: { type: 'string' }, json: { type: 'boolean' } });
  if (values.help) {
    io.out(RECEIPT_HELP);
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new GeobridgeError('USAGE', `receipt verify: give one receipt file (a saved /v1/route answer), not ${String(positionals.length)}; see 'geobridge receipt --help'.`);
  if (values.broker === undefined) throw new GeobridgeError('USAGE', "receipt verify: give --broker URL, the broker that routed; see 'geobridge receipt --help'.");
  const broker = brokerUrl(values.broker, 'receipt verify');
  const file = positionals[0] ?? '';
  const receipt = readReceiptFile(file);
  const kept = values.sth === undefined ? undefined : readTreeHeadFile(values.sth);
  const pinned = values['log-key'] !== undefined ? await readLogKeyFile(values['log-key']) : undefined;
  const key = pinned ?? await logPublicKeyFromJwk(await getJson(broker, '/v1/log/key'));

  const result = await check();
  if (values.json) io.out(`${JSON.stringify({ file, ...result, keyId: key.keyId, keyPinned: pinned !== undefined }, null, 2)}\n`);
  else io.out(result.ok ? `${result.lines.join('\n')}\n` : `not verified: ${result.reason}\n`);
  return result.ok ? EXIT.ok : EXIT.violations;

  async function check(): Promise<{ ok: true; seq: number; treeSize: number; lines: string[] } | { ok: false; reason: string }> {
    const { promise } = receipt;
    const unsigned = checkInclusionPromise(promise, key.publicKey, key.keyId);
    if (unsigned !== undefined) return { ok: false, reason: `the receipt is not the log's promise: ${unsigned}` };
    let sth = (await getJson(broker, '/v1/log/sth')) as SignedTreeHead;
    // A head covers a record within an interval of its promise; wait that long, no longer.
    for (const deadline = Date.now() + COVER_WAIT_MS; sth.size <= promise.index && Date.now() < deadline; ) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      sth = (await getJson(broker, '/v1/log/sth')) as SignedTreeHead;
    }
    const signed = verifyTreeHead(sth, key.publicKey, key.keyId);
    if (!signed.ok) return { ok: false, reason: `the broker's tree head: ${signed.reason}` };
    const seq = promise.index + 1;
    if (sth.size <= promise.index) return { ok: false, reason: `the broker's latest signed tree head (${String(sth.size)} records) does not hold record ${String(seq)}, promised ${new Date(promise.timestamp).toISOString()}: the log lost it, or broke its promise` };
    const inclusion = (await getJson(broker, `/v1/log/proof?index=${String(promise.index)}&size=${String(sth.size)}`)) as { recordHash: string; proof: string[] };
    if (inclusion.recordHash !== promise.recordHash) return { ok: false, reason: `the log now holds another record ${String(seq)} (hash ${inclusion.recordHash}, promised ${promise.recordHash}): it was rewritten` };
    const proved = verifyInclusion(hashLeaf(leafEntry(promise.recordHash)), promise.index, inclusion.proof.map(fromBase64), signed.head);
    if (!proved.ok) return { ok: false, reason: `the broker's inclusion proof does not lead to the root its head signs (${proved.message})` };
    const lines = [`record ${String(seq)} is in the log: the tree head of ${String(sth.size)} records signed ${new Date(sth.timestamp).toISOString()} holds it (an inclusion proof of ${String(inclusion.proof.length)} hash${inclusion.proof.length === 1 ? '' : 'es'}, checked here)`];
    if (kept !== undefined) {
      const keptSigned = verifyTreeHead(kept, key.publicKey, key.keyId);
      if (!keptSigned.ok) return { ok: false, reason: `the tree head you kept: ${keptSigned.reason}` };
      if (kept.size > sth.size) return { ok: false, reason: `the log shrank: you kept a head of ${String(kept.size)} records, the broker now signs ${String(sth.size)}` };
      const consistency = (await getJson(broker, `/v1/log/consistency?from=${String(kept.size)}&to=${String(sth.size)}`)) as { proof: string[] };
      const extends_ = verifyConsistency(keptSigned.head, signed.head, consistency.proof.map(fromBase64));
      if (!extends_.ok) return { ok: false, reason: `the log does not extend the head you kept (${String(kept.size)} records, signed ${new Date(kept.timestamp).toISOString()}): ${extends_.message}` };
      lines.push(`and that log extends the head you kept (${String(kept.size)} records, signed ${new Date(kept.timestamp).toISOString()})`);
    }
    lines.push(plainWords(receipt.answer, receipt.manifestSha256, promise.timestamp));
    if (pinned === undefined) lines.push(`log key ${key.keyId}, fetched from the broker: pin it (--log-key) to check against the key you trust`);
    return { ok: true, seq, treeSize: sth.size, lines };
  }
}

/** "DE → eu-central (DE), 2026-…, decision dec_…, manifest 9f2c…": what the receipt's answer says, for people. */
function plainWords(answer: Record<string, unknown>, manifest: string | undefined, at: number): string {
  const candidates = Array.isArray(answer.candidates) ? (answer.candidates as { datacenter?: unknown; jurisdiction?: unknown }[]) : [];
  const first = candidates[0];
  const country = typeof answer.country === 'string' ? answer.country : '?';
  const path = first ? `${country} → ${String(first.datacenter)} (${String(first.jurisdiction)})` : country;
  const more = candidates.length > 1 ? `, then ${candidates.slice(1).map((c) => `${String(c.datacenter)} (${String(c.jurisdiction)})`).join(', ')}` : '';
  return `the route: ${path}${more}; decided ${new Date(at).toISOString()}${typeof answer.decisionId === 'string' ? `, decision ${answer.decisionId}` : ''}${manifest ? `, under manifest ${manifest}` : ''}`;
}

function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text, 'base64'));
}
