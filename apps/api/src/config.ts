import fs from "node:fs";
import { readInstallerSettings } from "@attune/installer";
import {
  AttuneError,
  ErrorCodes,
  isAttuneError,
  SettingChecks,
  userHomeDir,
  type SettingProblem,
} from "@attune/pack-storage";
import path from "node:path";

export interface ApiConfig {
  port: number;
  host: string;
  home: string;
  databaseUrl?: string;
  packsDir?: string;
  /**
   * directories a local-path `source` must be inside; empty = local paths refused. From
   * ATTUNE_LOCAL_SOURCE_ROOTS; when that is unset, effectiveLocalSourceRoots() takes config.yaml's
   */
  localSourceRoots: string[];
  /** whether ATTUNE_LOCAL_SOURCE_ROOTS was set (it then wins over config.yaml) */
  localSourceRootsFromEnv: boolean;
  bodyLimit: number;
  drainTimeoutMs: number;
  /** how long a verified token is trusted before the database is asked again (0: always ask) */
  tokenCacheMs: number;
  logLevel: string;
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** One bad variable (`field`): what it must be and what it was (the message), and how to mend it (the hint). */
export interface EnvProblem extends SettingProblem {
  hint: string;
}

/** A value as it was set, fit to quote: JSON-escaped (whitespace and control characters show), cut short. */
function shown(raw: string): string {
  return JSON.stringify(raw.length > 64 ? `${raw.slice(0, 64)}…` : raw);
}

/**
 * Reads the environment, collecting a problem per bad variable instead of stopping at the first.
 * An empty variable means unset, as in the CLI (`DATABASE_URL= attune …` uses the embedded store);
 * only ATTUNE_LOCAL_SOURCE_ROOTS tells empty from unset (empty: no roots, whatever config.yaml says).
 */
class EnvReader {
  readonly problems: EnvProblem[] = [];
  constructor(private readonly env: NodeJS.ProcessEnv) {}

  /** the value as set (a path may hold spaces); undefined when unset or empty */
  text(name: string): string | undefined {
    const v = this.env[name];
    return v ? v : undefined;
  }

  /** a number's or a name's value, trimmed; undefined when unset, empty or blank */
  word(name: string): string | undefined {
    const v = this.env[name]?.trim();
    return v ? v : undefined;
  }

  /** a whole number in decimal digits from min to max ("1e3", "0x50" and "-1" are refused) */
  wholeNumber(
    name: string,
    range: { min: number; max: number; byDefault: number },
    what: string,
    hint: string,
  ) {
    const v = this.word(name);
    if (v === undefined) return range.byDefault;
    const n = /^[0-9]+$/.test(v) ? Number(v) : NaN;
    if (n >= range.min && n <= range.max) return n;
    this.problems.push({
      field: name,
      message: `${name} must be ${what} from ${range.min} to ${range.max}, got ${shown(this.env[name]!)}`,
      hint,
    });
    return range.byDefault;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], byDefault: T, hint: string): T {
    const v = this.word(name)?.toLowerCase();
    if (v === undefined) return byDefault;
    if ((allowed as readonly string[]).includes(v)) return v as T;
    const list = `${allowed.slice(0, -1).join(", ")} or ${allowed[allowed.length - 1]}`;
    this.problems.push({
      field: name,
      message: `${name} must be ${list}, got ${shown(this.env[name]!)}`,
      hint,
    });
    return byDefault;
  }
}

/**
 * Read the entry point's settings from the environment. Every bad variable is reported at once:
 * an ECONFIG whose `details.problems` has one `{variable, message, hint}` each (message and hint
 * join them), the message naming the variable and the value it had, the hint how to mend it.
 */
export function readApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  const r = new EnvReader(env);
  const port = r.wholeNumber(
    "PORT",
    { min: 0, max: 65535, byDefault: 8080 },
    "a port number",
    "set PORT to a port number from 1 to 65535, or 0 to pick a free port; unset, it is 8080",
  );
  const bodyLimit = r.wholeNumber(
    "ATTUNE_API_BODY_LIMIT",
    { min: 1024, max: 16 * 1024 * 1024, byDefault: 64 * 1024 },
    "a number of bytes",
    "set ATTUNE_API_BODY_LIMIT to a number of bytes from 1024 to 16777216, e.g. 1048576 for 1 MiB; unset, it is 65536",
  );
  const drainTimeoutMs = r.wholeNumber(
    "ATTUNE_API_DRAIN_TIMEOUT_MS",
    { min: 0, max: 600_000, byDefault: 30_000 },
    "a number of milliseconds",
    "set ATTUNE_API_DRAIN_TIMEOUT_MS to a number of milliseconds from 0 to 600000, e.g. 60000; unset, it is 30000",
  );
  const tokenCacheMs = r.wholeNumber(
    "ATTUNE_API_TOKEN_CACHE_MS",
    { min: 0, max: 300_000, byDefault: 5_000 },
    "a number of milliseconds",
    "set ATTUNE_API_TOKEN_CACHE_MS to a number of milliseconds from 0 to 300000, 0 to ask the database on every request; unset, it is 5000",
  );
  const logLevel = r.oneOf(
    "LOG_LEVEL",
    LOG_LEVELS,
    "info",
    "set LOG_LEVEL to one of those, or unset it for info",
  );
  // read by the libraries, where only "0" means anything (no helper threads): any other value would
  // silently leave the threads on, so a typo ("off", "false", " 0") is refused, in the CLI's words
  const ioThreads = env.ATTUNE_IO_THREADS;
  if (ioThreads !== undefined && !["", "0", "1"].includes(ioThreads))
    r.problems.push({
      field: "ATTUNE_IO_THREADS",
      message: `ATTUNE_IO_THREADS must be 0 (all file I/O on the main thread) or 1 (the default: helper threads), not ${shown(ioThreads)}`,
      hint: "set ATTUNE_IO_THREADS=0 to turn the helper threads off, or unset it",
    });
  const rootsVar = env.ATTUNE_LOCAL_SOURCE_ROOTS;
  const given = (rootsVar ?? "")
    .split(path.delimiter)
    .map((p) => p.trim())
    .filter(Boolean);
  // each root is where clients' local paths must lie: an absolute directory of this machine (a
  // relative one would depend on the server's working directory, a missing one admits nothing)
  for (const root of given) {
    const problem = !path.isAbsolute(root)
      ? "is relative"
      : !isDirectory(root)
        ? "is not an existing directory"
        : null;
    if (problem)
      r.problems.push({
        field: "ATTUNE_LOCAL_SOURCE_ROOTS",
        message: `ATTUNE_LOCAL_SOURCE_ROOTS: ${shown(root)} ${problem}`,
        hint: `give absolute paths of existing directories, separated by "${path.delimiter}"; set it empty to refuse local paths`,
      });
  }
  const roots = given.map((p) => path.resolve(p));
  const home = r.text("ATTUNE_HOME");
  const packsDir = r.text("ATTUNE_PACKS_DIR");
  for (const [variable, value] of [
    ["ATTUNE_HOME", home],
    ["ATTUNE_PACKS_DIR", packsDir],
  ] as const)
    if (value !== undefined && value.trim() === "")
      r.problems.push({
        field: variable,
        message: `${variable} is blank (${shown(value)})`,
        hint: `set ${variable} to a directory path, or unset it for the default`,
      });
  if (r.problems.length > 0) throw envError(r.problems);
  return {
    port,
    host: r.word("HOST") ?? "127.0.0.1",
    home: path.resolve(home ?? path.join(userHomeDir(), ".attune")),
    databaseUrl: r.text("DATABASE_URL"),
    packsDir: packsDir ? path.resolve(packsDir) : undefined,
    localSourceRoots: roots,
    localSourceRootsFromEnv: rootsVar !== undefined,
    bodyLimit,
    drainTimeoutMs,
    tokenCacheMs,
    logLevel,
  };
}

/**
 * readApiConfig, and when it refuses the environment, the libraries' settings too (ATTUNE_ALLOW_HTTP,
 * the size caps, ATTUNE_REGISTRIES, config.yaml), so that one start reports every bad variable, the
 * server's own and the libraries' alike (openInstaller checks the libraries' again).
 */
export async function readStartupConfig(env: NodeJS.ProcessEnv = process.env): Promise<ApiConfig> {
  try {
    return readApiConfig(env);
  } catch (err) {
    if (!isAttuneError(err) || err.code !== ErrorCodes.ECONFIG) throw err;
    const checks = new SettingChecks();
    checks.add(err);
    // the libraries' settings are read from the home: with a bad home or packs directory, they are
    // for the start after this one to check (a blank ATTUNE_HOME would read ~/.attune's config.yaml)
    const places = new Set(["ATTUNE_HOME", "ATTUNE_PACKS_DIR", "HOME"]);
    const listed = (err.details?.problems ?? []) as Array<{ field?: string }>;
    if (listed.some((p) => places.has(p.field ?? "")) || places.has(String(err.details?.field)))
      checks.done();
    const library = await readInstallerSettings({ env }).then(
      () => null,
      (e: unknown) => e,
    );
    if (isAttuneError(library) && library.code === ErrorCodes.ECONFIG) checks.add(library);
    checks.done();
    throw err; // not reached: done() throws what was read
  }
}

function envError(problems: EnvProblem[]): AttuneError {
  return new AttuneError(ErrorCodes.ECONFIG, problems.map((p) => p.message).join("; "), {
    hint: problems.map((p) => p.hint).join(" | "),
    details: { field: problems[0].field, problems },
  });
}

/**
 * What a start-up failure prints: one line per bad environment variable (readApiConfig reports them
 * all), else the error's; each with its code and hint. A library's refusal of a variable it read
 * (ATTUNE_ALLOW_HTTP, DATABASE_URL, …) is named by that variable as ours are, with a hint if it had none.
 */
export function startupErrorLines(e: unknown, env: NodeJS.ProcessEnv = process.env): string[] {
  const err = e as {
    code?: string;
    message?: string;
    hint?: string;
    details?: { field?: unknown; problems?: Array<{ message: string; hint?: string }> };
  };
  const code = err.code ? `${err.code} ` : "";
  const problems = err.details?.problems;
  if (Array.isArray(problems))
    return problems.map(
      (p) => `attune-api: cannot start: ${code}${p.message}${p.hint ? ` (${p.hint})` : ""}`,
    );
  let message = err.message ?? String(e);
  let hint = err.hint;
  const field = err.details?.field;
  if (
    err.code === "ECONFIG" &&
    typeof field === "string" &&
    /^[A-Z][A-Z0-9_]*$/.test(field) &&
    field in env
  ) {
    if (!message.includes(field)) message = `${field}: ${message}`;
    hint ??= `fix or unset ${field}`;
  }
  return [`attune-api: cannot start: ${code}${message}${hint ? ` (${hint})` : ""}`];
}

/**
 * The roots in effect: the environment's when ATTUNE_LOCAL_SOURCE_ROOTS is set, else config.yaml's
 * `local_source_roots` (relative ones anchored at the home, where the file lives), else none.
 */
export function effectiveLocalSourceRoots(
  config: ApiConfig,
  file: { local_source_roots?: string[] },
): string[] {
  if (config.localSourceRootsFromEnv) return config.localSourceRoots;
  return (file.local_source_roots ?? []).map((p) => path.resolve(config.home, p));
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
