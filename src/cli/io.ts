/**
 * Where CLI commands write. Commands take an `Io` so tests run them in-process
 * and read what they printed.
 */
import { fileURLToPath } from 'node:url';

/** Output sinks of one CLI run. */
export interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** True when stderr is a terminal (progress may redraw one line). */
  readonly interactive?: boolean;
}

/** The process's own stdout and stderr. */
export const processIo: Io = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  interactive: process.stderr.isTTY,
};

/** The manifest used when none is given: the bundled world topology. */
export const DEFAULT_MANIFEST = fileURLToPath(new URL('../../examples/world.yaml', import.meta.url));

/** CLI exit codes (PRODUCT.md contract). */
export const EXIT = { ok: 0, violations: 1, badInput: 2, refused: 3 } as const;

/** Resolves with the first SIGINT or SIGTERM, for commands that run until stopped. */
export function untilStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
