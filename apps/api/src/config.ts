import { userHomeDir } from "@attune/pack-storage";
import path from "node:path";
import { z } from "zod";

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

/** An empty variable means unset, as in the CLI (`DATABASE_URL= attune …` uses the embedded store). */
const optionalPath = z.preprocess((v) => (v === "" ? undefined : v), z.string().min(1).optional());

const Env = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().min(1).default("127.0.0.1"),
  ATTUNE_HOME: optionalPath,
  DATABASE_URL: optionalPath,
  ATTUNE_PACKS_DIR: optionalPath,
  ATTUNE_LOCAL_SOURCE_ROOTS: z.string().optional(),
  ATTUNE_API_BODY_LIMIT: z.coerce
    .number()
    .int()
    .min(1024)
    .max(16 * 1024 * 1024)
    .default(64 * 1024),
  ATTUNE_API_DRAIN_TIMEOUT_MS: z.coerce.number().int().min(0).max(600_000).default(30_000),
  ATTUNE_API_TOKEN_CACHE_MS: z.coerce.number().int().min(0).max(300_000).default(5_000),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});

/** Read the entry point's settings from the environment; throws naming the bad variable. */
export function readApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new Error(`invalid environment: ${lines.join("; ")}`);
  }
  const e = parsed.data;
  const roots = (e.ATTUNE_LOCAL_SOURCE_ROOTS ?? "")
    .split(path.delimiter)
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => path.resolve(p));
  return {
    port: e.PORT,
    host: e.HOST,
    home: path.resolve(e.ATTUNE_HOME || path.join(userHomeDir(), ".attune")),
    databaseUrl: e.DATABASE_URL,
    packsDir: e.ATTUNE_PACKS_DIR ? path.resolve(e.ATTUNE_PACKS_DIR) : undefined,
    localSourceRoots: roots,
    localSourceRootsFromEnv: e.ATTUNE_LOCAL_SOURCE_ROOTS !== undefined,
    bodyLimit: e.ATTUNE_API_BODY_LIMIT,
    drainTimeoutMs: e.ATTUNE_API_DRAIN_TIMEOUT_MS,
    tokenCacheMs: e.ATTUNE_API_TOKEN_CACHE_MS,
    logLevel: e.LOG_LEVEL,
  };
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
