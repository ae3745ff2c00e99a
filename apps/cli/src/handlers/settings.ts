/**
 * Effective settings with their origin. Precedence: flags > environment > $ATTUNE_HOME/config.yaml
 * > defaults. `home` itself cannot come from config.yaml (the file lives in it).
 */
import path from "node:path";
import {
  OutboundPolicy,
  readConfigFile,
  readPackSettings,
  type AttuneConfigFile,
} from "@attune/pack-registry";
import { AttuneError, SettingChecks, isAttuneError, userHomeDir } from "@attune/pack-storage";
import { CliError } from "../errors";
import type { GlobalArgs } from "../globals";

export type SettingSource = "flag" | "env" | "config" | "default";
export interface Setting<T> {
  value: T;
  source: SettingSource;
  /** the flag, variable or key it came from */
  from?: string;
}

export interface Settings {
  home: Setting<string>;
  databaseUrl: Setting<string>;
  packsDir: Setting<string>;
  apiUrl: Setting<string | undefined>;
  token: Setting<string | undefined>;
  file: AttuneConfigFile;
  env: NodeJS.ProcessEnv;
}

const nonEmpty = (v: unknown): string | undefined =>
  typeof v === "string" && v.trim() !== "" ? v : undefined;

/** `~` expanded, then made absolute against `base` (the working directory unless given). */
function expandHome(p: string, base?: string): string {
  const expanded = p === "~" || p.startsWith("~/") ? path.join(userHomeDir(), p.slice(1)) : p;
  return base ? path.resolve(base, expanded) : path.resolve(expanded);
}

/**
 * Where a relative path setting is anchored: flags and environment variables at the working
 * directory, as usual; config.yaml at its own directory, the home, so that one store's settings
 * mean the same from wherever the CLI runs (packs_dir: packs-rel once put packs under the working
 * directory, and `pack verify` from elsewhere reported every file removed).
 */
const baseOf = (s: Setting<string | undefined>, home: string) => (s.source === "config" ? home : undefined);

/** A `file:` database URL from config.yaml with a relative path, anchored at the home. */
function anchorDatabaseUrl(s: Setting<string>, home: string): Setting<string> {
  if (s.source !== "config" || !s.value.startsWith("file:")) return s;
  const file = s.value.slice("file:".length);
  return file && !path.isAbsolute(file) && file !== ":memory:"
    ? { ...s, value: `file:${expandHome(file, home)}` }
    : s;
}

/** How to write each string key of config.yaml the CLI reads (for the hint of a value that is no string). */
const STRING_KEYS: Record<string, string> = {
  database_url:
    'database_url: "postgresql://user@host:5432/db" (or file:<path>; remove it for the embedded store)',
  packs_dir:
    "packs_dir: /srv/attune/packs (a directory, relative to the home; quote one that reads as a number)",
  api_url: "api_url: https://attune.example.com (remove it for local mode)",
  token: 'token: "att_…" (quoted; or leave it out and pass --token or ATTUNE_TOKEN)',
};

/** A config.yaml value that is not a string, as the library's config errors are said. */
function notAString(file: string, key: string, value: unknown): CliError {
  // the token's value is never quoted, whatever its type
  const got =
    key === "token"
      ? ""
      : `, got ${value === null ? "an empty value" : Array.isArray(value) ? "a list" : typeof value === "object" ? "a mapping" : JSON.stringify(value)}`;
  return new CliError("ECONFIG", `${file}: ${key}: must be a string${got}`, {
    hint: `fix ${key} in ${file}: e.g. ${STRING_KEYS[key] ?? `${key}: "<value>"`}`,
    details: { field: key },
  });
}

function pick(
  flag: string | undefined,
  flagName: string,
  env: NodeJS.ProcessEnv,
  envName: string,
  file: AttuneConfigFile,
  key: string,
  home: string,
): Setting<string | undefined> {
  if (nonEmpty(flag)) return { value: flag, source: "flag", from: `--${flagName}` };
  if (nonEmpty(env[envName])) return { value: env[envName], source: "env", from: envName };
  const fromFile = file[key];
  if (fromFile !== undefined && typeof fromFile !== "string")
    throw notAString(path.join(home, "config.yaml"), key, fromFile);
  if (nonEmpty(fromFile)) return { value: fromFile as string, source: "config", from: key };
  return { value: undefined, source: "default" };
}

export async function loadSettings(
  argv: GlobalArgs,
  env: NodeJS.ProcessEnv = process.env,
  /** for `registry remove`: a config.yaml whose registries repeat a name is read, to be mended */
  opts: { allowDuplicateNames?: boolean } = {},
): Promise<Settings> {
  const home: Setting<string> = nonEmpty(argv.home)
    ? { value: expandHome(argv.home!), source: "flag", from: "--home" }
    : nonEmpty(env.ATTUNE_HOME)
      ? { value: expandHome(env.ATTUNE_HOME!), source: "env", from: "ATTUNE_HOME" }
      : { value: path.join(userHomeDir(), ".attune"), source: "default" };
  const file = await readConfigFile(home.value, opts).catch((err: unknown) => {
    // a bad config.yaml stops every command: the environment's bad settings are named with it
    const checks = new SettingChecks();
    checks.add(err);
    checks.read(() => readPackSettings({}, env));
    checks.done();
    throw err; // not reached: done() throws what was read
  });
  const h = home.value;
  const db = pick(argv.databaseUrl, "database-url", env, "DATABASE_URL", file, "database_url", h);
  const packs = pick(argv.packsDir, "packs-dir", env, "ATTUNE_PACKS_DIR", file, "packs_dir", h);
  const apiUrl = pick(argv.apiUrl, "api-url", env, "ATTUNE_API_URL", file, "api_url", h);
  const token = pick(argv.token, "token", env, "ATTUNE_TOKEN", file, "token", h);
  return {
    home,
    databaseUrl:
      db.value !== undefined
        ? anchorDatabaseUrl(db as Setting<string>, home.value)
        : { value: `file:${path.join(home.value, "attune.db")}`, source: "default" },
    packsDir:
      packs.value !== undefined
        ? { ...packs, value: expandHome(packs.value, baseOf(packs, home.value)) }
        : { value: path.join(home.value, "packs"), source: "default" },
    apiUrl,
    token,
    file,
    env,
  };
}

/** Where a value was given, and what a bad one there is: see `placeOf`. */
export interface Place {
  /** as a user finds it: `--api-url`, `ATTUNE_API_URL`, `api_url in /home/me/.attune/config.yaml` */
  name: string;
  /** a value typed as a flag is a usage error (exit 2); one from the environment or config.yaml is ECONFIG (exit 1) */
  code: "EUSAGE" | "ECONFIG";
  /** how to mend the value where it was given */
  hint: string;
}

/**
 * Where `s` was given, with how to mend a bad value there: `what` a good value is ("the API's
 * http(s) URL"), `example` one, `without` what removing the config.yaml key does ("for local mode").
 */
export function placeOf(
  s: Setting<unknown>,
  home: string,
  mend: { what: string; example: string; without: string },
): Place {
  const from = s.from ?? "the default";
  if (s.source === "flag") return { name: from, code: "EUSAGE", hint: `e.g. ${from} ${mend.example}` };
  if (s.source === "env")
    return {
      name: from,
      code: "ECONFIG",
      hint: `set ${from} to ${mend.what}, e.g. ${mend.example} (or unset it)`,
    };
  const name = s.source === "config" ? `${from} in ${path.join(home, "config.yaml")}` : from;
  return {
    name,
    code: "ECONFIG",
    hint: `fix ${name}: ${mend.what}, e.g. ${mend.example} (or remove it ${mend.without})`,
  };
}

/** Where the API URL was given (remote.ts names it in its refusals). */
export function apiUrlPlace(s: Settings): Place {
  return placeOf(s.apiUrl, s.home.value, {
    what: "the API's http(s) URL",
    example: "https://attune.example.com",
    without: "for local mode",
  });
}

/** Whether plain http may carry the API token (remote mode), and how to allow it when it may not. */
export interface HttpPermission {
  /** read when a plain http URL is given (a malformed ATTUNE_ALLOW_HTTP is ECONFIG then) */
  allowed(): boolean;
  /** for the refusal's hint: "set ATTUNE_ALLOW_HTTP=true or allow_http: true in …/config.yaml" */
  howToAllow: string;
}

/**
 * allow_http as it applies to the API URL: the one setting of the outbound policy, ATTUNE_ALLOW_HTTP
 * over config.yaml's allow_http (read by the policy's own rule: a value other than true/false is
 * ECONFIG naming the variable), else false.
 */
export function httpPermission(s: Settings): HttpPermission {
  const raw = s.env.ATTUNE_ALLOW_HTTP;
  const file = path.join(s.home.value, "config.yaml");
  return {
    allowed: () =>
      OutboundPolicy.fromConfig({ allow_http: s.file.allow_http }, { ATTUNE_ALLOW_HTTP: raw }).allowHttp,
    howToAllow:
      raw !== undefined && raw.trim() !== ""
        ? `set ATTUNE_ALLOW_HTTP=true (it is ${JSON.stringify(raw)}, which wins over allow_http in ${file})`
        : s.file.allow_http === false
          ? `set allow_http: true in ${file} (or ATTUNE_ALLOW_HTTP=true)`
          : `set ATTUNE_ALLOW_HTTP=true or allow_http: true in ${file}`,
  };
}

/**
 * @attune/db names DATABASE_URL in its refusals of a database URL (ECONFIG, field DATABASE_URL)
 * whatever the value came from: a value from config.yaml or a flag is named where it was given,
 * with how to mend it there. One from DATABASE_URL keeps the library's words, prefixed with the
 * variable's name when they do not start with it.
 */
export function databaseUrlError(err: unknown, s: Settings): unknown {
  const e = err as { code?: unknown; message?: unknown; hint?: unknown; details?: { field?: unknown } };
  const source = s.databaseUrl.source;
  if (!(err instanceof Error)) return err;
  if (e.code !== "ECONFIG" || e.details?.field !== "DATABASE_URL") return renamedInHint(err, s);
  // from the environment: the library's words, with the variable named when they do not name it
  if (source !== "flag" && source !== "config") {
    if (source !== "env" || /^DATABASE_URL\b/.test(err.message)) return err;
    return new CliError("ECONFIG", `DATABASE_URL: ${err.message}`, {
      hint: typeof e.hint === "string" ? e.hint : undefined,
      cause: err,
      details: { field: "DATABASE_URL" },
    });
  }
  const place = placeOf(s.databaseUrl, s.home.value, {
    what: "a file: or postgresql:// URL",
    example: "postgresql://user@host:5432/db",
    without: "to use the embedded SQLite store",
  });
  // "DATABASE_URL's sslmode must be…", "DATABASE_URL \"…\" names no host", "unsupported database URL…"
  const message = `${place.name}: ${err.message.replace(/^DATABASE_URL(?:'s)? /, "")}`;
  const hint =
    typeof e.hint !== "string" || e.hint.startsWith("set DATABASE_URL")
      ? place.hint
      : `fix ${place.name}: ${e.hint}`;
  // typed as --database-url: a usage error (exit 2), like a bad --api-url
  return new CliError(place.code, message, {
    hint,
    cause: err,
    details: { field: s.databaseUrl.from },
  });
}

/**
 * Any other error of @attune/db (a server that refuses the connection, a wrong password) whose hint
 * says what to fix "in DATABASE_URL": with a URL given by --database-url or config.yaml, the hint
 * names that place instead (the variable may not even be set).
 */
function renamedInHint(err: Error, s: Settings): Error {
  const source = s.databaseUrl.source;
  if (
    (source !== "flag" && source !== "config") ||
    !isAttuneError(err) ||
    !/\bDATABASE_URL\b/.test(err.hint ?? "")
  )
    return err;
  const name =
    source === "config" ? `database_url in ${path.join(s.home.value, "config.yaml")}` : "--database-url";
  return new AttuneError(err.code, err.message, {
    hint: err.hint!.replace(/\bDATABASE_URL\b/g, name),
    path: err.path,
    cause: err,
    details: err.details,
  });
}

/** Options for @attune/installer and @attune/db: only non-default values, so their defaults stay theirs. */
export function storeOptions(s: Settings) {
  return {
    home: s.home.value,
    databaseUrl: s.databaseUrl.source === "default" ? undefined : s.databaseUrl.value,
    packsDir: s.packsDir.value,
    env: s.env,
  };
}

/** Hide the secrets of a URL (password, ?password=) for display. */
export { redactUrl } from "@attune/pack-storage";
