import { createRequire } from "node:module";
import type SemverModule from "semver";
import type * as TarModule from "tar";
import type * as YamlModule from "yaml";
import type * as ZodMini from "zod/mini";

const require = createRequire(import.meta.url);

/**
 * A dependency loaded on first use. Most commands need none of these (list/show/verify parse no
 * YAML, validate no schema, compare no versions, read no tar), and importing them all eagerly cost
 * every CLI command ~0.15 s of start-up (zod alone ~70 ms). `require` keeps the callers
 * synchronous; every package here ships CommonJS.
 */
function lazyRequire<T>(id: string): () => T {
  let mod: T | undefined;
  return () => (mod ??= require(id) as T);
}

type Parsers = typeof import("./vendor/parsers");

/**
 * yaml and zod/mini (with its English messages): from the bundled `parsers.cjs` next to the built
 * package (one file: see vendor/parsers.ts), else, running from source, from the installed modules.
 */
export const loadParsers = (() => {
  let parsers: Parsers | undefined;
  return (): Parsers => (parsers ??= requireParsers());
})();

function requireParsers(): Parsers {
  try {
    return require("./parsers.cjs") as Parsers;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "MODULE_NOT_FOUND") throw err;
  }
  // the installed modules expose everything the bundle exports (and more)
  const zm = require("zod/mini") as typeof ZodMini;
  const { en } = require("zod/v4/locales") as { en: () => Parameters<typeof zm.config>[0] };
  zm.config(en());
  return { YAML: require("yaml") as typeof YamlModule, zm };
}

export const loadYaml = (): Parsers["YAML"] => loadParsers().YAML;
export const loadSemver = lazyRequire<typeof SemverModule>("semver");
export const loadTar = lazyRequire<typeof TarModule>("tar");

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
