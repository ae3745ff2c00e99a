import path from "node:path";
import { AttuneError, ErrorCodes, userHomeDir } from "@attune/pack-storage";
import type { ExtractLimits } from "@attune/pack-registry";
import type { CleanupReport } from "./types";

export interface InstallerOptions {
  /** ATTUNE_HOME; default `$ATTUNE_HOME`, else `~/.attune` */
  home?: string;
  /** default `$DATABASE_URL`, else the embedded SQLite store `<home>/attune.db` */
  databaseUrl?: string;
  /** default `$ATTUNE_PACKS_DIR`, else `<home>/packs` */
  packsDir?: string;
  /** environment to read settings from (default `process.env`) */
  env?: NodeJS.ProcessEnv;
  /** local source paths allowed: undefined = any path (CLI), [] = none (API default) */
  localSourceRoots?: string[];
  /** run `reconcile()` while opening (default true) */
  reconcile?: boolean;
  /** how long an install waits for another install of the same ref (default 5 min) */
  lockTimeoutMs?: number;
  /** file lock staleness: a lock not refreshed for this long belongs to a dead process (default 10 s, min 2 s) */
  lockStaleMs?: number;
  /** size caps over the environment/config.yaml values (maxEntryBytes, maxTotalBytes, maxEntries) */
  limits?: Partial<ExtractLimits>;
  /**
   * Called when an install or uninstall, before its own work, settled (or could not settle) what
   * earlier operations on other refs left behind: an uninstall whose files could not be removed,
   * an operation a crash cut short, trash a failed deletion left (for the caller's log; the write
   * itself never fails because of them)
   */
  onCleanup?: (report: CleanupReport) => void;
}

export interface ResolvedSettings {
  home: string;
  packsDir: string;
  databaseUrl: string | undefined;
  env: NodeJS.ProcessEnv;
  localSourceRoots: string[] | undefined;
  lockTimeoutMs: number;
  lockStaleMs: number;
}

const DEFAULT_LOCK_TIMEOUT_MS = 5 * 60_000;
const DEFAULT_LOCK_STALE_MS = 10_000;

function absolute(value: string, field: string): string {
  if (value.includes("\0"))
    throw new AttuneError(ErrorCodes.EINVALID_INPUT, `${field} contains a NUL byte`, { details: { field } });
  const expanded = value === "~" || value.startsWith("~/") ? path.join(userHomeDir(), value.slice(1)) : value;
  return path.resolve(expanded);
}

/** Explicit options win over the environment, which wins over the defaults. */
export function resolveSettings(opts: InstallerOptions = {}): ResolvedSettings {
  const env = opts.env ?? process.env;
  const nonEmpty = (v: string | undefined) => (v && v.trim() !== "" ? v : undefined);
  const home = absolute(
    opts.home ?? nonEmpty(env.ATTUNE_HOME) ?? path.join(userHomeDir(), ".attune"),
    "home",
  );
  const packsDir = absolute(
    opts.packsDir ?? nonEmpty(env.ATTUNE_PACKS_DIR) ?? path.join(home, "packs"),
    "packsDir",
  );
  return {
    home,
    packsDir,
    databaseUrl: opts.databaseUrl ?? nonEmpty(env.DATABASE_URL),
    env,
    localSourceRoots: opts.localSourceRoots,
    lockTimeoutMs: opts.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
    lockStaleMs: Math.max(2_000, opts.lockStaleMs ?? DEFAULT_LOCK_STALE_MS),
  };
}
