/**
 * Error rendering and exit codes. Only the CLI decides how an error looks: libraries throw
 * `AttuneError`s with stable codes, and this module maps a code to an exit code and prints
 * one line plus a hint. Duck-typed on `code` so that it loads nothing at start-up.
 */

import { printable } from "./printable";

/**
 * INTERRUPTED: Ctrl-C stopped the operation (EINTERRUPTED; 128 + SIGINT, as shells report it);
 * TERMINATED: a SIGTERM did (`timeout`, systemd, docker stop: 128 + SIGTERM).
 */
export const ExitCode = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  INTEGRITY: 3,
  INTERRUPTED: 130,
  TERMINATED: 143,
} as const;

/** An error raised by the CLI itself (usage problems, remote API problems, refusals). */
export class CliError extends Error {
  readonly code: string;
  readonly hint?: string;
  readonly details?: Record<string, unknown>;
  constructor(
    code: string,
    message: string,
    opts: { hint?: string; cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "CliError";
    this.code = code;
    this.hint = opts.hint;
    this.details = opts.details;
  }
}

interface CodedError {
  code: string;
  message: string;
  hint?: string;
  stack?: string;
  cause?: unknown;
}

function asCoded(err: unknown): CodedError | undefined {
  if (err instanceof Error && typeof (err as { code?: unknown }).code === "string") {
    const code = (err as unknown as { code: string }).code;
    // Node system errors also carry a string code (ENOENT, EACCES...); keep them, they are actionable.
    // Node's own ERR_* codes (module not found, ...) are bugs or broken installs, not user errors.
    if (/^E[A-Z0-9_]+$/.test(code) && !code.startsWith("ERR_")) return err as unknown as CodedError;
  }
  return undefined;
}

/**
 * Fields that are what the user typed on the command line (library and API spellings): an invalid
 * value there is a usage error (exit 2) like a bad -o value, whichever layer noticed it.
 */
const TYPED_FIELDS = new Set([
  "checksum",
  "refSpec",
  "ref_spec",
  "registry",
  "version",
  "ref",
  "source",
  "url",
  // pack index-entry's flags (the library's gitUrl... renamed to what the user typed)
  "--git-url",
  "--git-ref",
  "--archive-url",
  "--archive-file",
  // pack install's --checksum, checked by the CLI itself (both modes)
  "--checksum",
]);

function typedField(err: CodedError): string | undefined {
  const d = (err as { details?: { field?: unknown; errors?: Array<{ field?: unknown }> } }).details;
  const field = d?.field ?? d?.errors?.[0]?.field;
  return typeof field === "string" ? field : undefined;
}

export function exitCodeFor(err: unknown): number {
  const coded = asCoded(err);
  if (!coded) return ExitCode.FAILURE;
  if (coded.code === "EINTEGRITY") return ExitCode.INTEGRITY;
  if (coded.code === "EUSAGE") return ExitCode.USAGE;
  if (coded.code === "EINTERRUPTED")
    return (coded as { details?: { signal?: unknown } }).details?.signal === "SIGTERM"
      ? ExitCode.TERMINATED
      : ExitCode.INTERRUPTED;
  if (coded.code.startsWith("EINVALID_") && TYPED_FIELDS.has(typedField(coded) ?? "")) return ExitCode.USAGE;
  return ExitCode.FAILURE;
}

const DEFAULT_HINTS: Record<string, string> = {
  EUNAUTHORIZED:
    "pass a valid API token with --token or ATTUNE_TOKEN (create one with `attune token create`)",
  EFORBIDDEN:
    "the token lacks a scope; create one with the needed scope (`attune token create --scopes ...`)",
  EPOLICY:
    "http and private hosts are refused by default; see allow_http / allowed_private_hosts in `attune config show`",
  EDATABASE:
    "check --database-url / DATABASE_URL and that the database is reachable; run `attune db migrate`",
  ELOCKED: "another install of this pack is running; retry when it has finished",
  EINTEGRITY: "the content is not what was expected; do not trust it",
  ECONFLICT: "pass --force to replace what is there",
  EACCES: "check the file permissions",
  EFETCH: "check the URL and your network, then retry",
  ENOTFOUND:
    "check the name; `attune pack list`, `attune token list` and `attune registry list` show what exists",
};

/** Render an error as `attune: <code>: <message>` and a `hint:` line (stack only with --debug). */
export function renderError(err: unknown, debug: boolean): string {
  const coded = asCoded(err);
  const code = coded?.code ?? "EUNEXPECTED";
  // a Node system error's message starts with its code already ("EPERM: operation not permitted")
  const raw = err instanceof Error ? err.message : String(err);
  const message = oneLine(raw.startsWith(`${code}: `) ? raw.slice(code.length + 2) : raw);
  const hint =
    coded?.hint ??
    DEFAULT_HINTS[code] ??
    (coded ? undefined : "this looks like a bug; run again with --debug and report the stack trace");
  const lines: string[] = [];
  // several bad settings reported at once: each with its own hint, as if reported alone
  const problems = listedProblems(err);
  if (problems) {
    for (const p of problems) {
      lines.push(`attune: ${code}: ${oneLine(p.message)}`);
      if (p.hint) lines.push(`hint: ${oneLine(p.hint)}`);
    }
  } else {
    lines.push(`attune: ${code}: ${message}`);
    if (hint) lines.push(`hint: ${oneLine(hint)}`);
  }
  if (debug) {
    let e: unknown = err;
    for (let depth = 0; e instanceof Error && depth < 5; depth++) {
      lines.push(depth === 0 ? (e.stack ?? "") : `caused by: ${e.stack ?? e.message}`);
      e = (e as { cause?: unknown }).cause;
    }
  } else if (!coded || code === "EUNEXPECTED") {
    lines.push("(run with --debug for the stack trace)");
  }
  return lines.join("\n") + "\n";
}

/** `details.problems` of an error that lists several bad settings (SettingChecks), else null. */
function listedProblems(err: unknown): Array<{ message: string; hint?: string }> | null {
  const listed = (err as { details?: { problems?: unknown } } | null)?.details?.problems;
  if (!Array.isArray(listed) || listed.length < 2) return null;
  const ok = listed.every(
    (p) =>
      typeof p === "object" &&
      p !== null &&
      typeof p.message === "string" &&
      (p.hint === undefined || typeof p.hint === "string"),
  );
  return ok ? (listed as Array<{ message: string; hint?: string }>) : null;
}

function oneLine(s: string): string {
  return printable(s).trim();
}
