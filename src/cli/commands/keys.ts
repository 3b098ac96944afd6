/**
 * `geobridge keys list|rotate|revoke KID --broker URL`: the broker's signing
 * keys, through its operator API (GET /v1/admin/keys, POST
 * /v1/admin/keys/rotate and /revoke).
 */
import { GeobridgeError } from '../../core/errors.js';
import { adminRequest, adminToken, type AdminAnswer } from '../admin-client.js';
import { parseCommandArgs } from '../args.js';
import { brokerUrl } from '../broker-client.js';
import { EXIT, type Io } from '../io.js';

export const KEYS_HELP = `Usage: geobridge keys list          --broker URL [--admin-token-file FILE] [--json]
       geobridge keys rotate        --broker URL [--admin-token-file FILE] [--json]
       geobridge keys revoke KID    --broker URL [--admin-token-file FILE] [--json]

The broker signs route tickets, join tokens, identity assertions and its
commands to bridges with an Ed25519 key. Its private half is a file,
DATA/keys/ticket-<KID>.pem (mode 600); bridges and clients verify with the
public half the broker publishes (/.well-known/jwks.json). KID is the key's
RFC 7638 thumbprint, as in every token's header.

  list     each key: its KID, when it was made, the broker that signs
           with it (when several brokers share a store, each signs with a
           key of its own), and its state —
             current   signs every new token (on its broker)
             retired   verifies what it signed until the time shown
                       (24 h after it was retired), then nothing
             revoked   verifies nothing, anywhere, ever
  rotate   makes a new key current. Tokens in flight stay valid: the old
           key verifies for 24 h more, and its private file is deleted.
           Rotate on a schedule, and when someone who could read DATA/keys
           leaves.
  revoke   for a key that may be in other hands: from now on it verifies
           nothing — at the broker, and on every connected bridge, told at
           once (a bridge that connects later is told before it admits
           anyone). Whoever a bridge admitted with a ticket the key signed is
           dropped and takes a fresh route; join links it signed stop
           working, so hosts send new ones. Revoking the current key rotates
           first. A revocation is kept across restarts.

The admin token: --admin-token-file FILE (the broker writes DATA/admin-token)
or the environment variable GEOBRIDGE_ADMIN_TOKEN. It is never printed.

Options:
  --broker URL              the broker (http://host:port)
  --admin-token-file FILE   file holding the admin token
  --json                    print the broker's JSON answer
  -h, --help                show this help

Exit codes: 0 done · 1 the broker refused (wrong token, unknown KID) · 2 bad
input, or the broker cannot be reached

Examples:
  geobridge keys list --broker http://127.0.0.1:8080 --admin-token-file data/admin-token
  GEOBRIDGE_ADMIN_TOKEN=… geobridge keys rotate --broker https://broker.example
  geobridge keys revoke uVq3…Xk0 --broker http://127.0.0.1:8080 --admin-token-file data/admin-token
`;

/** A kid: an RFC 7638 thumbprint, 43 base64url characters. */
const KID = /^[A-Za-z0-9_-]{43}$/;

/** Flags whose value is the next argument. */
const VALUE_FLAGS = new Set(['--broker', '--admin-token-file']);

/**
 * Takes the KID out of `revoke`'s arguments before they are parsed: a kid
 * may begin with '-' (base64url), and would otherwise pass for a flag.
 */
function takeKid(args: readonly string[]): { kid: string | undefined; others: string[] } {
  const index = args.findIndex((arg, i) => KID.test(arg) && !VALUE_FLAGS.has(args[i - 1] ?? ''));
  return index < 0 ? { kid: undefined, others: [...args] } : { kid: args[index], others: args.filter((_, i) => i !== index) };
}

/** A key as GET /v1/admin/keys lists it. */
interface ListedKey {
  readonly kid: string;
  readonly state: string;
  readonly createdAt: string;
  readonly holder?: string;
  readonly revokedAt?: string;
  readonly verifiesUntil?: string;
}

/** Runs `keys`. */
export async function runKeys(argv: readonly string[], io: Io, env: Readonly<Record<string, string | undefined>> = process.env): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    io.out(KEYS_HELP);
    return sub === undefined ? EXIT.badInput : EXIT.ok;
  }
  if (sub !== 'list' && sub !== 'rotate' && sub !== 'revoke') throw new GeobridgeError('USAGE', `keys: unknown subcommand '${sub}': list, rotate or revoke; see 'geobridge keys --help'.`);
  const { kid: given, others } = sub === 'revoke' ? takeKid(rest) : { kid: undefined, others: rest };
  const { values, positionals: more } = parseCommandArgs('keys', others, { broker: { type: 'string' }, 'admin-token-file': { type: 'string' }, json: { type: 'boolean' } });
  const positionals = given === undefined ? more : [given, ...more];
  if (values.help) {
    io.out(KEYS_HELP);
    return EXIT.ok;
  }
  const wanted = sub === 'revoke' ? 1 : 0;
  if (positionals.length !== wanted) {
    throw new GeobridgeError('USAGE', sub === 'revoke' ? `keys revoke: give exactly one KID ('geobridge keys list' shows them); see 'geobridge keys --help'.` : `keys ${sub}: unexpected argument '${positionals[0] ?? ''}'; see 'geobridge keys --help'.`);
  }
  if (values.broker === undefined) throw new GeobridgeError('USAGE', `keys ${sub}: give --broker URL; see 'geobridge keys --help'.`);
  const broker = brokerUrl(values.broker, `keys ${sub}`);
  const token = adminToken(values['admin-token-file'], env, 'keys');
  const kid = positionals[0] ?? '';
  const answer =
    sub === 'list'
      ? await adminRequest(broker, 'GET', '/v1/admin/keys', token)
      : sub === 'rotate'
        ? await adminRequest(broker, 'POST', '/v1/admin/keys/rotate', token)
        : await adminRequest(broker, 'POST', '/v1/admin/keys/revoke', token, { kid });
  if (!answer.ok) return refused(answer, io);
  if (values.json) {
    io.out(`${JSON.stringify(answer.body, null, 2)}\n`);
    return EXIT.ok;
  }
  if (sub === 'list') io.out(keyTable((answer.body as { keys: ListedKey[] }).keys));
  else if (sub === 'rotate') io.out(`rotated: ${(answer.body as { kid: string }).kid} now signs; the previous key verifies tokens in flight for 24 h.\n`);
  else io.out(revokedLine(answer.body as { kid: string; revokedAt: string; rotatedTo?: string }));
  return EXIT.ok;
}

function refused(answer: Extract<AdminAnswer, { ok: false }>, io: Io): number {
  io.err(`refused (${String(answer.status)} ${answer.code}): ${answer.message}\n`);
  return EXIT.violations;
}

function keyTable(keys: readonly ListedKey[]): string {
  const state = (k: ListedKey): string => (k.state === 'retired' && k.verifiesUntil !== undefined ? `retired (verifies until ${k.verifiesUntil})` : k.state === 'revoked' && k.revokedAt !== undefined ? `revoked (${k.revokedAt})` : k.state);
  // A key made before brokers had names has no holder: '-'.
  const rows = keys.map((k) => [k.kid, k.createdAt, k.holder ?? '-', state(k)]);
  const header = ['KID', 'CREATED', 'HOLDER', 'STATE'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (r: readonly string[]): string => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

function revokedLine(r: { kid: string; revokedAt: string; rotatedTo?: string }): string {
  return `revoked: ${r.kid} verifies nothing since ${r.revokedAt}; connected bridges were told${r.rotatedTo === undefined ? '' : `; ${r.rotatedTo} now signs`}.\n`;
}
