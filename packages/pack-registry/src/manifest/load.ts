import { lstat, readFile } from "node:fs/promises";
import { join } from "node:path";
import { AttuneError, ioError, isValidRef } from "@attune/pack-storage";
import { MANIFEST_FILE, manifestError, notAPlainFile } from "./errors";
import { validateManifest } from "./schema";
import type { PackManifest } from "./types";
import { loadYaml } from "../lazy";

/** A pack.yaml is a few KB; a bigger one is a mistake or an attack on the parser. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

/**
 * Parse and validate pack.yaml text. YAML must be one mapping with unique keys; aliases are capped
 * (the `yaml` package's default of 100) so a "billion laughs" document cannot blow up.
 */
export function parseManifest(source: string | Buffer, path?: string): PackManifest {
  let text: string;
  try {
    text = typeof source === "string" ? source : new TextDecoder("utf-8", { fatal: true }).decode(source);
  } catch (err) {
    throw manifestError(null, "is not valid UTF-8 text", { path, cause: err });
  }
  if (Buffer.byteLength(text) > MAX_MANIFEST_BYTES) {
    throw manifestError(null, `is larger than ${MAX_MANIFEST_BYTES} bytes`, {
      path,
      details: { limit: MAX_MANIFEST_BYTES },
    });
  }
  const { isMap, parseDocument } = loadYaml();
  // resolveKnownTags off: YAML 1.1's !!binary, !!set, !!omap, !!timestamp would become a Buffer, a
  // Set, a Map or a Date, stored as `{"type":"Buffer",...}` or `{}` in JSON; with it off they are
  // unresolved tags like any other (!foo), refused below
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true, resolveKnownTags: false });
  const problem = doc.errors[0] ?? doc.warnings.find((w) => w.code === "TAG_RESOLVE_FAILED");
  if (problem) {
    const line = problem.linePos?.[0];
    const at = line ? ` (line ${line.line}, column ${line.col})` : "";
    throw manifestError(null, `invalid YAML${at}: ${yamlProblem(problem.message)}`, {
      path,
      cause: problem,
      hint: line ? `fix line ${line.line} of pack.yaml` : "fix the YAML of pack.yaml",
    });
  }
  if (!isMap(doc.contents)) {
    throw manifestError(null, "must be a mapping of fields (ref: ..., version: ...)", {
      path,
      hint: 'write one field per line at the start of the line, e.g. ref: my_pack and version: "1.0.0"',
    });
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw manifestError(null, `cannot be read: ${(err as Error).message}`, { path, cause: err });
  }
  try {
    return validateManifest(data as Record<string, unknown>);
  } catch (caught) {
    const err = numberedIdentity(caught, doc, text, data as Record<string, unknown>, path);
    if (path && err instanceof Error && "code" in err) Object.assign(err, { path });
    // the pack this file names, when that much is valid: an installer files the failure under it
    const named = (data as Record<string, unknown>).ref;
    if (err instanceof AttuneError && typeof named === "string" && isValidRef(named))
      Object.assign(err, { details: { ...err.details, packRef: named } });
    throw err;
  }
}

/**
 * `version: 1.10` is a YAML number, 1.1 once read: when the schema refuses a number for ref or
 * version, name what the file says, not the number it became.
 */
function numberedIdentity(
  err: unknown,
  doc: { get(key: string, keepScalar: true): unknown },
  text: string,
  data: Record<string, unknown>,
  path: string | undefined,
): unknown {
  const field = (err as AttuneError).details?.field;
  if (!(err instanceof AttuneError) || (field !== "version" && field !== "ref")) return err;
  if (typeof data[field] !== "number") return err;
  const node = doc.get(field, true) as { range?: [number, number, number] } | undefined;
  const literal = node?.range ? text.slice(node.range[0], node.range[1]).trim() : String(data[field]);
  return manifestError(field, `${literal} is a YAML number (read as ${String(data[field])}), not a string`, {
    path,
    hint: err.hint,
  });
}

/** Read and validate `<packRoot>/pack.yaml` (a regular file, not a link). EMANIFEST names the field. */
export async function loadManifest(packRoot: string): Promise<PackManifest> {
  const file = join(packRoot, MANIFEST_FILE);
  const info = await lstat(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") {
      throw manifestError(null, `not found in ${packRoot}`, {
        path: file,
        hint: "a pack needs a pack.yaml at its root",
      });
    }
    throw ioError(err, file, "cannot read");
  });
  if (!info.isFile()) throw notAPlainFile(file, info);
  if (info.size > MAX_MANIFEST_BYTES) {
    throw manifestError(null, `is larger than ${MAX_MANIFEST_BYTES} bytes`, {
      path: file,
      details: { limit: MAX_MANIFEST_BYTES },
    });
  }
  const bytes = await readFile(file).catch((err) => {
    throw ioError(err, file, "cannot read");
  });
  return parseManifest(bytes, file);
}

/**
 * The yaml library's message, first line, without its own position (given separately) and in
 * this product's words where it advises calling one of its functions.
 */
function yamlProblem(message: string): string {
  const first = message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
  const tag = /^Unresolved tag: (?:tag:yaml\.org,2002:)?(.*)$/.exec(first);
  if (tag)
    return `the YAML tag ${tag[0].includes("tag:yaml.org,2002:") ? "!!" : ""}${tag[1]} is not supported; pack.yaml holds plain values (strings, numbers, booleans, lists and mappings)`;
  if (/^Maximum call stack size exceeded/.test(first)) return "lists or mappings are nested too deeply";
  if (/^Source contains multiple documents/.test(first))
    return "more than one YAML document (a '---' line after the first key); pack.yaml holds one mapping";
  if (/^Map keys must be unique/.test(first)) return "a key is given twice; give each key once";
  return first;
}
