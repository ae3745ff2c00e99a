import { createRequire } from "node:module";
import type SemverModule from "semver";
import type * as TarModule from "tar";
import type * as YamlModule from "yaml";
import type * as ZodModule from "zod";

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

export const loadYaml = lazyRequire<typeof YamlModule>("yaml");
export const loadZod = lazyRequire<typeof ZodModule>("zod");
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
