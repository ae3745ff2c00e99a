import { createRequire } from "node:module";
import type * as YamlModule from "yaml";
import type * as ZodMini from "zod/mini";
import type LockfileModule from "proper-lockfile";

const require = createRequire(import.meta.url);

// Dependencies load on first use. Most commands need none of these (list/show/verify parse no YAML,
// validate no schema, compare no versions, read no tar), and importing them all eagerly cost every
// CLI command ~0.15 s of start-up (zod alone ~70 ms). `require` keeps the callers synchronous.

type Parsers = typeof import("./vendor/parsers");

/**
 * A dependency from its bundle next to the built package (`<name>.cjs`: one file instead of the
 * dozens to hundreds the installed module is made of; see vendor/parsers.ts), else, running from
 * source, from the installed modules (`fallback`). Loaded on first use.
 */
function bundled<T>(name: string, fallback: () => T): () => T {
  let mod: T | undefined;
  return () => {
    if (mod) return mod;
    try {
      mod = require(`./${name}.cjs`) as T;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "MODULE_NOT_FOUND") throw err;
      mod = fallback();
    }
    return mod;
  };
}

/** yaml and zod/mini, with zod's English messages. */
export const loadParsers = bundled<Parsers>("parsers", () => {
  // the installed modules expose everything the bundle exports (and more)
  const zm = require("zod/mini") as typeof ZodMini;
  const { en } = require("zod/v4/locales") as { en: () => Parameters<typeof zm.config>[0] };
  zm.config(en());
  return { YAML: require("yaml") as typeof YamlModule, zm };
});

export const loadYaml = (): Parsers["YAML"] => loadParsers().YAML;
export const loadSemver = bundled<typeof import("./vendor/semver")>("semver", () => require("semver"));
export const loadTar = bundled<typeof import("./vendor/tar")>("tar", () => require("tar"));

let lockfile: typeof LockfileModule | undefined;
/** `proper-lockfile` (with graceful-fs, retry, signal-exit), loaded by the first command that edits config.yaml. */
export function loadLockfile(): typeof LockfileModule {
  return (lockfile ??= require("proper-lockfile") as typeof LockfileModule);
}

/** A value built on first use and then kept (schemas built from a lazily loaded zod). */
export function once<T>(build: () => T): () => T {
  let value: T | undefined;
  let built = false;
  return () => {
    if (!built) {
      value = build();
      built = true;
    }
    return value as T;
  };
}
