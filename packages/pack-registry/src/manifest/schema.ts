import { isAttuneError, validateRef, versionProblem, VERSION_HINT } from "@attune/pack-storage";
import { parseDependencies } from "./dependencies";
import { manifestError, show } from "./errors";
import { issuePath, issueText } from "../issue-text";
import type { PackManifest } from "./types";
import { loadParsers, once } from "../lazy";

/**
 * The fields Attune reads; unknown keys are ignored (other tools put their own keys in pack.yaml).
 * zod/mini (bundled with yaml, see vendor/parsers.ts): every install validates a pack.yaml, and
 * the full zod took ~50 ms more to load.
 */
export const packManifestSchema = once(() => {
  const { zm: z } = loadParsers();
  const text = z.optional(z.string().check(z.maxLength(64 * 1024)));
  const list = z.optional(z.array(z.string().check(z.maxLength(1024))).check(z.maxLength(1000)));
  return z.object({
    ref: z.string(),
    version: z.string(),
    label: text,
    name: text, // legacy spelling of label
    description: text,
    author: text,
    email: text,
    license: text,
    tags: list,
    keywords: list, // legacy spelling of tags
    conf_schema: z.optional(z.unknown()),
    meta: z.optional(z.record(z.string(), z.unknown())),
    runtime_deps: list,
    dependencies: list,
  });
});

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  return typeof value === "object" ? "a mapping" : `${typeof value} ${show(value)}`;
}

/** ref and version get their own messages: a YAML `version: 1.0` is a number, a common slip. */
function checkIdentity(raw: Record<string, unknown>): void {
  for (const field of ["ref", "version"] as const) {
    const value = raw[field];
    if (value === undefined) {
      throw manifestError(field, "is required", { hint: `add "${field}:" to pack.yaml` });
    }
    if (typeof value !== "string") {
      throw manifestError(field, `${typeName(value)} is not a string`, {
        hint:
          field === "version" ? 'quote it and use MAJOR.MINOR.PATCH, e.g. version: "1.0.0"' : "use a string",
      });
    }
    if (field === "ref") {
      try {
        validateRef(value);
      } catch (err) {
        if (!isAttuneError(err)) throw err;
        throw manifestError(field, `${show(value)} is not a valid pack ref`, { hint: err.hint });
      }
      continue;
    }
    const refused = versionProblem(value);
    if (refused !== null) {
      throw manifestError(
        field,
        `${show(value)} ${refused.reason === "syntax" ? "is not a strict semver version (e.g. 1.0.0)" : refused.problem}`,
        { hint: VERSION_HINT },
      );
    }
  }
}

/** The text fields stored as they are (the lists, meta and conf_schema are stored as JSON). */
const STORED_TEXT = ["label", "name", "description", "author", "email", "license"] as const;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * A NUL character (which PostgreSQL cannot store in text, while SQLite can) or a lone UTF-16
 * surrogate (which each database replaces its own way) would make the same pack.yaml install on one
 * store and not on another, or read back differently: refused in the text fields stored as they are.
 */
function checkStoredText(raw: Record<string, unknown>): void {
  for (const field of STORED_TEXT) {
    const value = raw[field];
    if (typeof value !== "string") continue;
    if (value.includes("\0"))
      throw manifestError(field, "holds a NUL character (\\0), which no text field may hold", {
        hint: `remove the \\0 from "${field}" in pack.yaml`,
      });
    if (LONE_SURROGATE.test(value))
      throw manifestError(field, "holds a lone UTF-16 surrogate (an escape like \\ud800 without its pair)", {
        hint: `write "${field}" as plain text in pack.yaml (characters, not \\u escapes of half a pair)`,
      });
  }
}

/** Validate a parsed pack.yaml mapping and map legacy keys onto canonical ones. */
export function validateManifest(input: Record<string, unknown>): PackManifest {
  // an empty YAML key (`description:`) is null: treat it as absent rather than as a type error
  const raw = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== null));
  checkIdentity(raw);
  checkStoredText(raw);
  const parsed = packManifestSchema().safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issuePath(issue).map(String).join(".");
    throw manifestError(field, issueText(issue), {
      hint: `fix "${field}" in pack.yaml`,
      details: { issues: parsed.error.issues.length },
    });
  }
  const m = parsed.data;
  const manifest: PackManifest = {
    ref: m.ref,
    version: m.version,
    label: m.label ?? m.name ?? m.ref,
    tags: m.tags ?? m.keywords ?? [],
    runtime_deps: m.runtime_deps ?? [],
    dependencies: parseDependencies(m.dependencies ?? [], m.ref),
  };
  for (const key of ["description", "author", "email", "license", "conf_schema", "meta"] as const) {
    if (m[key] !== undefined) (manifest as unknown as Record<string, unknown>)[key] = m[key];
  }
  return manifest;
}
