import { AttuneError, ErrorCodes, SettingChecks } from "@attune/pack-storage";
import { positiveSetting } from "../config/settings";

/**
 * Caps applied while extracting an archive (or copying a local directory). They are sized for real
 * packs, which hold a few hundred files and a few MB, with room for vendored assets; anything past
 * them is far more likely a bomb than a pack. See docs/security.md.
 */
export interface ExtractLimits {
  /** regular files + directories in the archive */
  maxEntries: number;
  /** uncompressed bytes of one file, counted on the bytes actually written */
  maxEntryBytes: number;
  /** uncompressed bytes of all files, counted on the bytes actually written */
  maxTotalBytes: number;
  /** path components of one entry (`a/b/c` is 3) */
  maxDepth: number;
  /** UTF-8 bytes of one entry's relative path */
  maxPathBytes: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_EXTRACT_LIMITS: Readonly<ExtractLimits> = Object.freeze({
  maxEntries: 50_000,
  maxEntryBytes: 256 * MiB,
  maxTotalBytes: 1024 * MiB,
  maxDepth: 32,
  maxPathBytes: 4096,
});

/**
 * The size caps an operator may raise (or lower) for packs that vendor large assets: each from its
 * environment variable, else from `config.yaml`, else the default. The other caps (depth, path
 * length) protect the extractor itself and are fixed. A value that is not a positive integer is
 * ECONFIG naming the variable or key.
 */
export const CONFIGURABLE_LIMITS = [
  { key: "maxEntryBytes", env: "ATTUNE_MAX_FILE_BYTES", config: "max_file_bytes" },
  { key: "maxTotalBytes", env: "ATTUNE_MAX_PACK_BYTES", config: "max_pack_bytes" },
  { key: "maxEntries", env: "ATTUNE_MAX_PACK_FILES", config: "max_pack_files" },
] as const;

/**
 * The hint of an ETOO_LARGE naming `limit` (an ExtractLimits key, or "ratio"): the setting that
 * raises a configurable cap, else why the cap is fixed and what to do instead.
 */
export function capHint(limit: string): string {
  const setting = CONFIGURABLE_LIMITS.find((l) => l.key === limit);
  if (setting)
    return `if the pack is genuine, raise ${setting.env} (${setting.config} in config.yaml), or slim the pack`;
  if (limit === "ratio")
    return "the decompression-ratio cap is fixed (it stops compression bombs): if the pack is genuine, repack it without the highly compressible data, or install it from git or a directory";
  if (limit === "maxPathBytes")
    return "this cap is fixed: every path of the pack, once stored under the packs directory, must fit in the system's 4096 bytes; shorten the pack's paths (or use a packs directory with a shorter path)";
  return "this cap is fixed (it protects the extractor): shorten the pack's paths";
}

export function limitsFromConfig(
  cfg: Record<string, unknown> = {},
  env: NodeJS.ProcessEnv = process.env,
): Partial<ExtractLimits> {
  const out: Partial<ExtractLimits> = {};
  const checks = new SettingChecks();
  for (const { key, env: name, config } of CONFIGURABLE_LIMITS) {
    const value = checks.read(() =>
      positiveSetting(env, name, cfg, config, {
        unit: key === "maxEntries" ? "files" : "bytes",
        fallback: DEFAULT_EXTRACT_LIMITS[key],
      }),
    );
    if (value !== undefined) out[key] = value;
  }
  checks.done();
  return out;
}

/** Merge caller overrides onto the defaults; a cap that is not a positive integer is a caller bug. */
export function resolveLimits(overrides: Partial<ExtractLimits> = {}): ExtractLimits {
  const limits = { ...DEFAULT_EXTRACT_LIMITS };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    if (!(key in DEFAULT_EXTRACT_LIMITS)) {
      throw new AttuneError(ErrorCodes.EINVALID_INPUT, `unknown extraction limit "${key}"`, {
        details: { field: key },
        hint: `use one of ${Object.keys(DEFAULT_EXTRACT_LIMITS).join(", ")}`,
      });
    }
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new AttuneError(
        ErrorCodes.EINVALID_INPUT,
        `extraction limit "${key}" must be a positive integer, got ${String(value)}`,
        { details: { field: key } },
      );
    }
    limits[key as keyof ExtractLimits] = value;
  }
  return limits;
}
