/**
 * Effective settings with their origin. Precedence: flags > environment > $ATTUNE_HOME/config.yaml
 * > defaults. `home` itself cannot come from config.yaml (the file lives in it).
 */
import path from "node:path";
import { readConfigFile, type AttuneConfigFile } from "@attune/pack-registry";
import { userHomeDir } from "@attune/pack-storage";
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

function pick(
  flag: string | undefined,
  flagName: string,
  env: NodeJS.ProcessEnv,
  envName: string,
  file: AttuneConfigFile,
  key: string,
): Setting<string | undefined> {
  if (nonEmpty(flag)) return { value: flag, source: "flag", from: `--${flagName}` };
  if (nonEmpty(env[envName])) return { value: env[envName], source: "env", from: envName };
  const fromFile = file[key];
  if (fromFile !== undefined && typeof fromFile !== "string")
    throw new CliError("ECONFIG", `config.yaml: ${key} must be a string`, {
      hint: `fix ${key} in config.yaml`,
    });
  if (nonEmpty(fromFile)) return { value: fromFile as string, source: "config", from: key };
  return { value: undefined, source: "default" };
}

export async function loadSettings(
  argv: GlobalArgs,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Settings> {
  const home: Setting<string> = nonEmpty(argv.home)
    ? { value: expandHome(argv.home!), source: "flag", from: "--home" }
    : nonEmpty(env.ATTUNE_HOME)
      ? { value: expandHome(env.ATTUNE_HOME!), source: "env", from: "ATTUNE_HOME" }
      : { value: path.join(userHomeDir(), ".attune"), source: "default" };
  const file = await readConfigFile(home.value);
  const db = pick(argv.databaseUrl, "database-url", env, "DATABASE_URL", file, "database_url");
  const packs = pick(argv.packsDir, "packs-dir", env, "ATTUNE_PACKS_DIR", file, "packs_dir");
  const apiUrl = pick(argv.apiUrl, "api-url", env, "ATTUNE_API_URL", file, "api_url");
  const token = pick(argv.token, "token", env, "ATTUNE_TOKEN", file, "token");
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
