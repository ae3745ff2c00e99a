import type { GlobalArgs } from "./globals";
import { CliError } from "./errors";
import { formatResult, isOutputFormat, pickFormat, type CommandResult } from "./output";

export type Handler<A> = (argv: A) => Promise<CommandResult | void>;

/** Exit code chosen by a successful command (e.g. `pack verify` finding tampering exits 3). */
export const runState = { exitCode: 0 };

/** The effective output format: -o flag, else ATTUNE_OUTPUT, else table on a TTY and json otherwise. */
export function outputFormat(argv: GlobalArgs, env: NodeJS.ProcessEnv = process.env) {
  const fromEnv = env.ATTUNE_OUTPUT?.trim() || undefined;
  if (!argv.output && fromEnv && !isOutputFormat(fromEnv))
    throw new CliError("ECONFIG", `ATTUNE_OUTPUT must be table, json or yaml, not "${fromEnv}"`, {
      hint: "fix or unset ATTUNE_OUTPUT, or pass -o",
    });
  return pickFormat(argv.output ?? fromEnv, Boolean(process.stdout.isTTY));
}

/**
 * ATTUNE_IO_THREADS: "0" keeps all file reading and writing on the main thread; unset, empty or
 * "1" is the default (helper threads for large trees and archives). The libraries read it only as
 * `=== "0"` when a thread would start, deep inside an operation, and cannot say anything about
 * another value: a typo (`off`, `false`, ` 0`) would silently leave the threads on. Refused here,
 * before any command runs.
 */
export function checkIoThreads(env: NodeJS.ProcessEnv = process.env): void {
  const v = env.ATTUNE_IO_THREADS;
  if (v === undefined || v === "" || v === "0" || v === "1") return;
  throw new CliError(
    "ECONFIG",
    `ATTUNE_IO_THREADS must be 0 (all file I/O on the main thread) or 1 (the default: helper threads), not ${JSON.stringify(v)}`,
    {
      hint: "set ATTUNE_IO_THREADS=0 to turn the helper threads off, or unset it",
      details: { field: "ATTUNE_IO_THREADS" },
    },
  );
}

/**
 * Wrap a lazily imported handler: the command's module (and the libraries it needs) is only
 * loaded when that command runs, which keeps `attune --help` and `pack checksum` start-up small.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- yargs types positionals as optional; the handler's own type is the contract
export function lazy<A extends GlobalArgs>(load: () => Promise<Handler<A>>): (argv: any) => Promise<void> {
  return async (argv: A) => {
    const format = outputFormat(argv); // before the handler: a bad ATTUNE_OUTPUT must not follow side effects
    checkIoThreads();
    const handler = await load();
    const result = await handler(argv);
    if (!result) return;
    const text = await formatResult(result, result.format ?? format);
    if (text) process.stdout.write(text);
    if (result.exitCode) runState.exitCode = result.exitCode;
  };
}
