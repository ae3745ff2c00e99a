/**
 * `attune pack checksum <path>` without yargs. It is the command scripts run most often and the
 * one whose whole-process time has targets (DESIGN.md §3), and loading yargs and parsing the
 * whole command tree is ~15 % of a small pack's run. Only the plainest spellings are taken here:
 * the path, `-q`/`--quiet`, `--json` and `-o`/`--output` with a valid format, each at most once.
 * Anything else (another option, `--help`, a repeated flag, `--quiet=…`, a path that starts with
 * `-`, a missing path) goes to the full parser in main.ts, so every usage error is still its
 * message. The handler, the output format rules and the error rendering are the same code as the
 * full path's; shortcut.test.ts runs both on the same arguments and compares what they print.
 */
import type { ChecksumArgs } from "./handlers/checksum";
import { exitCodeFor, renderError } from "./errors";
import { isOutputFormat } from "./output";
import { lazy, runState } from "./run";

/** The handler of `pack checksum`, loaded on first use (shared with the yargs command). */
export const loadChecksum = async () => (await import("./handlers/checksum")).packChecksum;

/** The arguments of a plain `pack checksum` command line, or null when the full parser must read it. */
export function plainChecksumArgs(argv: readonly string[]): ChecksumArgs | null {
  if (argv[0] !== "pack" || argv[1] !== "checksum") return null;
  let path: string | undefined;
  let quiet: boolean | undefined;
  let json: boolean | undefined;
  let output: string | undefined;
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-q" || a === "--quiet") {
      if (quiet) return null;
      quiet = true;
    } else if (a === "--json") {
      if (json) return null;
      json = true;
    } else if (a === "-o" || a === "--output") {
      const value = argv[++i];
      if (output !== undefined || !isOutputFormat(value)) return null;
      output = value;
    } else if (a.startsWith("-") || path !== undefined) return null;
    else path = a;
  }
  if (path === undefined) return null;
  return { path, quiet, json, output };
}

/**
 * Run a plain `pack checksum` command line; the exit code, or null (nothing done) when the full
 * parser must handle it. Errors are printed and mapped as main() does (no --debug here).
 */
export async function runShortcut(argv: readonly string[]): Promise<number | null> {
  const args = plainChecksumArgs(argv);
  if (!args) return null;
  runState.exitCode = 0;
  try {
    await lazy(loadChecksum)(args);
    return runState.exitCode;
  } catch (err) {
    process.stderr.write(renderError(err, false));
    return exitCodeFor(err);
  }
}
