/**
 * The geobridge CLI: dispatches a command and maps errors to exit codes.
 * Users see messages, never stack traces (set GEOBRIDGE_DEBUG=1 for those).
 */
import { isGeobridgeError } from '../core/errors.js';
import { EXIT, processIo, type Io } from './io.js';

type Command = (argv: readonly string[], io: Io) => number | Promise<number>;

/**
 * Each command's module, loaded when it runs: a bridge process then loads the
 * bridge and not the broker's web stack, the simulator or the page bundler
 * (a bridge of `geobridge up` is a process of its own, on a laptop).
 */
const COMMANDS: Readonly<Record<string, () => Promise<Command>>> = {
  check: async () => (await import('./commands/check.js')).runCheck,
  diff: async () => (await import('./commands/diff.js')).runDiff,
  route: async () => (await import('./commands/route.js')).runRoute,
  plan: async () => (await import('./commands/plan.js')).runPlan,
  table: async () => (await import('./commands/table.js')).runTable,
  schema: async () => (await import('./commands/schema.js')).runSchema,
  simulate: async () => (await import('./commands/simulate.js')).runSimulate,
  serve: async () => (await import('./commands/serve.js')).runServe,
  audit: async () => (await import('./commands/audit.js')).runAudit,
  keys: async () => (await import('./commands/keys.js')).runKeys,
  receipt: async () => (await import('./commands/receipt.js')).runReceipt,
  manifest: async () => (await import('./commands/manifest.js')).runManifest,
  bridge: async () => (await import('./commands/bridge.js')).runBridge,
  up: async () => (await import('./commands/up.js')).runUp,
};

export const MAIN_HELP = `geobridge — video conferencing that keeps data inside its legal borders

Usage: geobridge <command> [options]     (geobridge <command> --help for details)

Commands:
  check [manifest…]        verify manifests: fences, lists, enclaves, capacity (exit 1 on errors)
  diff OLD NEW             what a manifest change does to exposure and capacity
  route --manifest F …     where a participant may connect, and why not elsewhere (exit 3 if refused)
  plan --manifest F …      a meeting across bridges: who connects where, relays, who cannot see whom
  table [manifest]         each zone's candidates under normal load
  simulate SCENARIO        replay growth, spikes and outages through the real decider
  serve --manifest F       run the broker: decisions, signed route tickets, placement, audit
  bridge --datacenter ID … run one datacenter's media bridge (WebRTC SFU)
  up                       everything on this machine: broker, a bridge per datacenter, a demo meeting
  schema                   print the manifest JSON Schema for editors
  audit verify|prove|witness|report
                           check the audit log, a receipt, or a broker's log from outside;
                           who touched which jurisdiction, when (exit 1 if altered)
  receipt verify FILE      check a routing receipt (the meeting page's file, or a saved /v1/route answer)
  manifest log|show        the manifests a broker put in force: when, by whom, what changed; one whole
  keys list|rotate|revoke  the broker's signing keys: list them, rotate, revoke one (admin token)

Exit codes: 0 success · 1 check found violations or audit chain broken · 2 bad input or usage · 3 route refused or a planned participant reaches nobody

Start here:
  geobridge check examples/incident-2020.yaml
  geobridge route --manifest examples/world.yaml --country US
`;

/** Runs the CLI with `argv` (without node and script); resolves to the exit code. */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    io.out(MAIN_HELP);
    return command === undefined ? EXIT.badInput : EXIT.ok;
  }
  if (command === '--version' || command === '-v') {
    io.out('geobridge 0.1.0\n');
    return EXIT.ok;
  }
  const load = COMMANDS[command];
  if (!load) {
    io.err(`error: unknown command '${command}'. Commands: ${Object.keys(COMMANDS).join(', ')}; see 'geobridge --help'.\n`);
    return EXIT.badInput;
  }
  try {
    const run = await load();
    return await run(rest, io);
  } catch (error) {
    if (isGeobridgeError(error)) {
      io.err(`error ${error.code}: ${error.message}\n`);
      return EXIT.badInput;
    }
    io.err(`internal error: ${error instanceof Error ? error.message : String(error)}. This is a bug; please report it with the command you ran.\n`);
    if (process.env.GEOBRIDGE_DEBUG) io.err(`${error instanceof Error ? (error.stack ?? '') : ''}\n`);
    return 70;
  }
}
