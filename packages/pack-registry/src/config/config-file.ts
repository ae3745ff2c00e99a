import { constants as fsConstants } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { AttuneError, ErrorCodes, SettingChecks, closest, ioError, makeDirs } from "@attune/pack-storage";
import type { AttuneConfigFile, RegistryConfig } from "./types";
import { loadLockfile, loadParsers, loadYaml, once } from "../lazy";
import { urlHasCredentials } from "../policy/url-credentials";
import { registryUrlProblem } from "./registry-url";
import { issuePath, issueText } from "../issue-text";
import { CONFIGURABLE_LIMITS, DEFAULT_EXTRACT_LIMITS } from "../extract/limits";
import { wholeNumber } from "./settings";
import { DEFAULT_MAX_DOWNLOAD_BYTES, OutboundPolicy } from "../policy/outbound-policy";

export const CONFIG_FILE_NAME = "config.yaml";
/** Registry names become cache file names: keep them to a safe alphabet. */
export const REGISTRY_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

// zod/mini from the bundled parsers (see vendor/parsers.ts): every command reads config.yaml when
// there is one, and loading the full zod for it cost ~60 ms of each
const PRIORITY_RANGE = "must be a whole number from 0 to 999999999 (lower is searched first)";

const configSchema = once(() => {
  const { zm: z } = loadParsers();
  const nonEmpty = z.string().check(z.minLength(1));
  const registrySchema = z.strictObject({
    name: z.string().check(z.regex(REGISTRY_NAME_RE, "must match [A-Za-z0-9][A-Za-z0-9_.-]* (max 64)")),
    url: nonEmpty.check(
      z.refine((s: string) => registryUrlProblem(s, { allowRelativePath: true }) === null, {
        error: (issue: { input?: unknown }) =>
          registryUrlProblem(String(issue.input), { allowRelativePath: true }) ?? "is not a registry URL",
      }),
    ),
    // the range `attune registry add --priority` takes, said in those words
    priority: z._default(
      z.int(PRIORITY_RANGE).check(z.minimum(0, PRIORITY_RANGE), z.maximum(999_999_999, PRIORITY_RANGE)),
      100,
    ),
    enabled: z._default(z.boolean(), true),
    headers: z.optional(z.record(z.string(), z.string())),
  });
  return z.looseObject({
    // names are unique (checked after the schema, so the message can name the repeated one)
    registries: z.optional(z.array(registrySchema)),
    allow_http: z.optional(z.boolean()),
    allowed_private_hosts: z.optional(z.array(nonEmpty)),
    local_source_roots: z.optional(z.array(nonEmpty)),
    index_cache_ttl_seconds: z.optional(z.int().check(z.minimum(0))),
  });
});

function keyPath(p: PropertyKey[]): string {
  return p.map((k, i) => (typeof k === "number" ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`)).join("");
}

// RFC 9110: a header name is a token; a value holds no control characters but tab (CR/LF would
// split it into another header: node refuses those at the first request, as a network error)
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// eslint-disable-next-line no-control-regex -- the control characters are what is refused
const HEADER_VALUE_BAD = /[\u0000-\u0008\u000a-\u001f\u007f]|[^\u0000-\u00ff]/;

function headerProblem(name: string, value: string): string | null {
  if (!HEADER_NAME.test(name))
    return "is not a valid header name (letters, digits and !#$%&'*+.^_`|~- only, no spaces or colons)";
  if (HEADER_VALUE_BAD.test(value))
    return "has a value holding a line break, a control character or a character beyond Latin-1";
  return null;
}

/** One bad key of config.yaml: its path, the message (without the file), how to mend it, more details. */
interface KeyProblem {
  key: string;
  message: string;
  hint: string;
  details?: Record<string, unknown>;
}

/** A bad key as a problem, with the default hint (where and what a good value looks like). */
function keyProblem(
  file: string,
  key: string,
  message: string,
  hint = keyHint(file, key),
  details?: Record<string, unknown>,
): KeyProblem {
  return { key, message, hint, details };
}

/**
 * How to write a good value of a key (`example`, for hints) and, for the keys whose refused value
 * a message may quote, what a good one is (`what`: "must be <what>, got <value>").
 */
interface KeySpec {
  what?: string;
  example: string;
}

/** The size caps config.yaml may set (the environment's ATTUNE_MAX_* win over them). */
const CAP_KEYS = [
  ...CONFIGURABLE_LIMITS.map((l) => ({
    key: l.config,
    unit: l.key === "maxEntries" ? "files" : "bytes",
    fallback: DEFAULT_EXTRACT_LIMITS[l.key],
  })),
  { key: "max_download_bytes", unit: "bytes", fallback: DEFAULT_MAX_DOWNLOAD_BYTES },
];

const REGISTRY_EXAMPLE = "{name: main, url: https://registry.example.com/index.json, priority: 10}";

/**
 * The keys this package reads, by their path with list indexes as `[]`. A registry's fields have
 * no `what`: their messages never quote the value (a URL or a header may hold a secret).
 */
const KEY_SPECS: Record<string, KeySpec> = {
  allow_http: {
    what: "true or false",
    example: "allow_http: true (or false; YAML's yes/no and quoted words are not booleans here)",
  },
  allowed_private_hosts: {
    what: "a list of host names or IP addresses",
    example: "allowed_private_hosts: [registry.internal, 10.0.0.5]",
  },
  "allowed_private_hosts[]": {
    what: "a host name or IP address",
    example: "allowed_private_hosts: [registry.internal, 10.0.0.5]",
  },
  local_source_roots: { what: "a list of directories", example: "local_source_roots: [/srv/attune/sources]" },
  "local_source_roots[]": { what: "a directory", example: "local_source_roots: [/srv/attune/sources]" },
  index_cache_ttl_seconds: {
    what: "a whole number of seconds, 0 or more",
    example: "index_cache_ttl_seconds: 600",
  },
  registries: {
    what: "a list of registries",
    example: `registries: [${REGISTRY_EXAMPLE}], or add one with \`attune registry add <name> <url>\``,
  },
  "registries[]": { example: `- ${REGISTRY_EXAMPLE}` },
  "registries[].name": {
    example: "name: main (letters, digits, _, . and -, at most 64, starting with a letter or digit)",
  },
  "registries[].url": {
    example: "url: https://registry.example.com/index.json (or the absolute path of a local index.json)",
  },
  "registries[].priority": { example: "priority: 10 (lower is searched first)" },
  "registries[].enabled": { example: "enabled: true (or false)" },
  "registries[].headers": { example: 'headers: {Authorization: "Bearer <token>"}' },
  "registries[].headers.*": { example: 'headers: {Authorization: "Bearer <token>"}' },
  ...Object.fromEntries(
    CAP_KEYS.map((c) => [
      c.key,
      {
        what: `a positive whole number of ${c.unit}`,
        example: `${c.key}: ${c.fallback * 2} (the default is ${c.fallback}; remove the key for it)`,
      },
    ]),
  ),
};

/** A key's path as KEY_SPECS names it: `registries[2].url` is `registries[].url`. */
function specOf(key: string): KeySpec | undefined {
  const general = key.replace(/\[\d+\]/g, "[]");
  return KEY_SPECS[general] ?? KEY_SPECS[general.replace(/^(registries\[\]\.headers)\..*$/s, "$1.*")];
}

/** How to mend `key` in `file`: where, and what a good value looks like. */
function keyHint(file: string, key: string): string {
  const spec = specOf(key);
  // an unknown key inside a registry: its known fields
  if (!spec && /^registries\[\d+\]\./.test(key))
    return `fix ${key} in ${file}: a registry takes name, url, priority, enabled and headers`;
  return spec ? `fix ${key} in ${file}: e.g. ${spec.example}` : `fix ${key} in ${file}`;
}

/** A refused value as a message quotes it (only scalars of keys that hold no secret). */
function shown(v: unknown): string {
  if (v === null || v === undefined) return "an empty value";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  // YAML's .inf / .nan: JSON would show them as null
  if (typeof v === "number" && !Number.isFinite(v))
    return Number.isNaN(v) ? ".nan" : v > 0 ? ".inf" : "-.inf";
  return JSON.stringify(v);
}

/** The value at an issue's path in the parsed document. */
function valueAt(doc: unknown, p: PropertyKey[]): unknown {
  let v = doc;
  for (const k of p)
    v = v !== null && typeof v === "object" ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

/**
 * The message of a schema refusal: "must be <what>, got <value>" for the top-level keys and the
 * items of their lists (zod says "Invalid input: expected boolean, received string"); a registry's
 * fields keep the schema's own words (which never quote a URL or a header value).
 */
function refusal(doc: unknown, issue: { path: PropertyKey[]; message: string; code?: string }): string {
  const p = issuePath(issue);
  const key = keyPath(p);
  const text = issueText(issue);
  const what = specOf(key)?.what;
  if (what === undefined || issue.code === "unrecognized_keys") return text;
  const value = valueAt(doc, p);
  return value === undefined ? text : `must be ${what}, got ${shown(value)}`;
}

/**
 * The size caps (read by limitsFromConfig and OutboundPolicy.fromConfig, where the environment
 * wins): refused here, naming the file, rather than there without it. A digit string is a number,
 * as the environment's are.
 */
function checkCaps(cfg: Record<string, unknown>, file: string): KeyProblem[] {
  const problems: KeyProblem[] = [];
  for (const { key, unit } of CAP_KEYS) {
    const raw = cfg[key];
    if (raw === undefined || raw === null) continue;
    const value = wholeNumber(raw);
    if (Number.isSafeInteger(value) && value > 0) continue;
    problems.push(keyProblem(file, key, `must be a positive whole number of ${unit}, got ${shown(raw)}`));
  }
  return problems;
}

/**
 * The top-level keys the product reads: this package's, and the CLI's own (`database_url`,
 * `packs_dir`, `api_url`, `token`). Other keys are kept for other tools, but not one a letter or two
 * away from these: `registeries:` or `max_file_byte:` would otherwise be ignored without a word and
 * the setting the user meant would silently not apply.
 */
export const CONFIG_KEYS = [
  "registries",
  "allow_http",
  "allowed_private_hosts",
  "local_source_roots",
  "index_cache_ttl_seconds",
  ...CAP_KEYS.map((c) => c.key),
  "database_url",
  "packs_dir",
  "api_url",
  "token",
];

function checkMisspelledKeys(cfg: Record<string, unknown>, file: string): KeyProblem[] {
  const problems: KeyProblem[] = [];
  for (const key of Object.keys(cfg)) {
    if (CONFIG_KEYS.includes(key)) continue;
    // a singular for a plural (registry, local_source_root) is as sure a slip as a typo
    const plural = key.replace(/y$/, "ies");
    const meant = CONFIG_KEYS.find((k) => k === plural || k === `${key}s`) ?? closest(key, CONFIG_KEYS, 2);
    if (meant === undefined) continue;
    problems.push(
      keyProblem(
        file,
        key,
        `is not a known key; did you mean ${meant}?`,
        `rename ${key} to ${meant} in ${file} (other keys are left to other tools, but not ones this close to a known key)`,
      ),
    );
  }
  return problems;
}

/**
 * allowed_private_hosts items with a scheme, a port or a CIDR range are refused by the outbound
 * policy's own rule (they would never match), here with the file named.
 */
function checkPrivateHosts(hosts: unknown, file: string): KeyProblem[] {
  // a value that is not a list of strings is the schema's to refuse
  if (!Array.isArray(hosts) || hosts.length === 0 || !hosts.every((h) => typeof h === "string" && h !== ""))
    return [];
  try {
    OutboundPolicy.fromConfig({ allowed_private_hosts: hosts as string[] }, {});
    return [];
  } catch (e) {
    if (!(e instanceof AttuneError) || typeof e.details?.field !== "string") throw e;
    const key = e.details.field;
    const message = e.message.replace(/^config\.yaml: [^:]+: /, "");
    return [keyProblem(file, key, message, `fix ${key} in ${file}: ${e.hint ?? ""}`)];
  }
}

export interface ParseConfigOptions {
  /**
   * Accept registries that share a name (read only to mend the file: `updateConfigFile` does, so
   * that `attune registry remove <name>` can remove them). Everywhere else a repeated name is ECONFIG.
   */
  allowDuplicateNames?: boolean;
}

/** The first registry whose name an earlier one has, with that earlier one's index. */
function repeatedName(regs: unknown[]): { name: string; first: number; again: number } | null {
  const seen = new Map<string, number>();
  for (const [i, r] of regs.entries()) {
    const name = (r as { name?: unknown } | null)?.name;
    // a registry without a valid name is the schema's to refuse
    if (typeof name !== "string" || !REGISTRY_NAME_RE.test(name)) continue;
    const first = seen.get(name);
    if (first !== undefined) return { name, first, again: i };
    seen.set(name, i);
  }
  return null;
}

/** The registries' headers that cannot be sent (a bad name, a line break in a value). */
function checkHeaders(regs: unknown[], file: string): KeyProblem[] {
  const problems: KeyProblem[] = [];
  for (const [i, reg] of regs.entries()) {
    const headers = (reg as { headers?: unknown } | null)?.headers;
    if (headers === null || typeof headers !== "object" || Array.isArray(headers)) continue;
    for (const [name, v] of Object.entries(headers)) {
      if (typeof v !== "string") continue; // the schema's to refuse
      const problem = headerProblem(name, v);
      // the value is never echoed: it is usually a token
      if (problem)
        problems.push(
          keyProblem(file, `registries[${i}].headers.${JSON.stringify(name).slice(1, -1)}`, problem),
        );
    }
  }
  return problems;
}

/**
 * Where a key is in the file: its top-level key's place among the document's keys, then its list
 * index (`registries[2].url`: 2), so problems are reported in the order the file holds them.
 */
function fileOrder(doc: Record<string, unknown>): (key: string) => [number, number] {
  const tops = Object.keys(doc);
  return (key) => {
    const m = /^([^[.]*)(?:\[(\d+)\])?/.exec(key);
    const top = tops.indexOf(m?.[1] ?? "");
    return [top < 0 ? tops.length : top, m?.[2] === undefined ? -1 : Number(m[2])];
  };
}

/**
 * Validate a parsed config object. Every bad key is reported at once, in the order the file holds
 * them: one ECONFIG naming the key (`details.field`, `details.issues`) when there is one; when there
 * are several, one whose message joins theirs and whose `details.problems` lists them one by one
 * (as SettingChecks does), `details.field` the first.
 */
export function parseConfig(
  value: unknown,
  file = CONFIG_FILE_NAME,
  opts: ParseConfigOptions = {},
): AttuneConfigFile {
  const r = configSchema().safeParse(value ?? {});
  // the checks beyond the schema read the document as it is (a value that is no mapping: the schema's)
  const doc =
    value !== null && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  const problems: KeyProblem[] = r.success
    ? []
    : r.error.issues.map((issue) => {
        const key = keyPath(issuePath(issue)) || "(root)";
        return keyProblem(file, key, refusal(value, issue));
      });
  if (doc) {
    problems.push(...checkMisspelledKeys(doc, file), ...checkCaps(doc, file));
    problems.push(...checkPrivateHosts(doc.allowed_private_hosts, file));
    const regs = Array.isArray(doc.registries) ? (doc.registries as unknown[]) : [];
    const twice = opts.allowDuplicateNames ? null : repeatedName(regs);
    if (twice) {
      // a name that passed REGISTRY_NAME_RE: safe to quote
      problems.push(
        keyProblem(
          file,
          `registries[${twice.again}].name`,
          `registry name "${twice.name}" is used twice (registries[${twice.first}] and registries[${twice.again}]); registry names must be unique`,
          `rename one of the registries named "${twice.name}" in ${file}, or remove them all with \`attune registry remove ${twice.name}\``,
          { name: twice.name },
        ),
      );
    }
    problems.push(...checkHeaders(regs, file));
  }
  if (problems.length > 0) throwConfigProblems(file, problems, doc);
  return r.data as AttuneConfigFile;
}

/**
 * The ECONFIG of parseConfig (see there): one error per problem, in file order, listed together by
 * SettingChecks; `details.issues` lists them all, as `{key, message}`.
 */
function throwConfigProblems(file: string, found: KeyProblem[], doc: Record<string, unknown> | null): never {
  const where = doc ? fileOrder(doc) : () => [0, 0];
  const order = found.map((p, i) => ({ p, i, at: where(p.key) }));
  order.sort((a, b) => a.at[0] - b.at[0] || a.at[1] - b.at[1] || a.i - b.i);
  const sorted = order.map((o) => o.p);
  const issues = sorted.map((p) => ({ key: p.key, message: p.message }));
  const checks = new SettingChecks();
  for (const p of sorted)
    checks.add(
      new AttuneError(ErrorCodes.ECONFIG, `${file}: ${p.key}: ${p.message}`, {
        path: file,
        details: { field: p.key, issues, ...p.details },
        hint: p.hint,
      }),
    );
  checks.done({ path: file, details: { issues } });
  throw new Error("unreachable: SettingChecks.done() throws the problems it was given");
}

export async function readConfigFile(home: string, opts: ParseConfigOptions = {}): Promise<AttuneConfigFile> {
  const file = path.join(home, CONFIG_FILE_NAME);
  const text = await readConfigText(file);
  return text === null ? {} : parseConfigText(text, file, opts);
}

/** config.yaml's text, or null when there is none. */
async function readConfigText(file: string): Promise<string | null> {
  const notAFile = (what: string, cause?: unknown) =>
    new AttuneError(ErrorCodes.ECONFIG, `${file} is ${what}, not a file`, {
      path: file,
      cause,
      hint: `move ${file} away: config.yaml must be a file (\`attune registry add\` writes one)`,
    });
  let fh: fs.FileHandle;
  try {
    // non-blocking: a FIFO in its place must not hang every command (a link to a file is fine)
    fh = await fs.open(file, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ELOOP") throw notAFile("a loop of symbolic links", e);
    if (code === "ENOENT") {
      // a link whose target is gone is a config the user meant to have, not "no config"
      const target = await fs.readlink(file).catch(() => null);
      if (target === null) return null;
      throw new AttuneError(
        ErrorCodes.ECONFIG,
        `${file} is a symbolic link to ${target}, which does not exist`,
        {
          path: file,
          cause: e,
          hint: `restore ${target}, or remove the link ${file} to run with the defaults`,
        },
      );
    }
    throw ioError(e, file, "read");
  }
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw notAFile("a directory");
    if (!st.isFile()) throw notAFile("a FIFO, socket or device");
    return await fh.readFile("utf8");
  } catch (e) {
    if (e instanceof AttuneError) throw e;
    throw ioError(e, file, "read");
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** The yaml library's error codes, in this product's words (its messages quote the file's text). */
const YAML_CODES: Record<string, string> = {
  DUPLICATE_KEY: "a key is given twice",
  TAB_AS_INDENT: "a tab is used for indentation (use spaces)",
  BAD_INDENT: "the indentation is wrong",
  MISSING_CHAR: "a closing quote or bracket is missing",
  TAG_RESOLVE_FAILED: "a value starts with ! (read as a YAML tag): quote the value",
  BAD_ALIAS: "an alias (*name) is not valid: quote a value that starts with *",
  RESOURCE_EXHAUSTION: "lists or mappings are nested too deeply",
  MULTIPLE_DOCS: "more than one YAML document (a --- line): config.yaml holds one mapping",
};

/**
 * A YAML problem of config.yaml said without the file's text: config.yaml holds tokens and registry
 * headers, and the parser's messages quote the lines around an error, a tag or an alias name (a
 * password starting with ! or *). Only the kind (by the parser's code), the line and column, and the
 * key that line starts with (keys are no secret) are said.
 */
function yamlProblem(code: string, text: string, pos?: { line: number; col: number }): string {
  const what = YAML_CODES[code] ?? `a YAML syntax error (${code})`;
  if (!pos) return what;
  const lines = text.split(/\r?\n/);
  if (pos.line > lines.length || (pos.line === lines.length && lines[pos.line - 1] === ""))
    return `${what}, at the end of the file`;
  const key = /^[ \t]*(?:-[ \t]+)?([A-Za-z0-9_.-]{1,64})[ \t]*:/.exec(lines[pos.line - 1] ?? "");
  return `${what} at line ${pos.line}, column ${pos.col}${key ? ` (the line of the key ${key[1]})` : ""}`;
}

/** config.yaml's text as plain data, or the YAML problem (see yamlProblem). */
function readYaml(text: string): { value: unknown } | { problem: string } {
  const yaml = loadYaml();
  // silent: the library's warnings go to process.emitWarning, quoting the line (and its secret)
  const docs = yaml.parseAllDocuments(text, { uniqueKeys: true, logLevel: "silent" });
  if (docs.length === 0) return { value: null }; // an empty file, or comments only
  if (docs.length > 1) return { problem: yamlProblem("MULTIPLE_DOCS", text) };
  const doc = docs[0];
  const issue = doc.errors[0] ?? doc.warnings[0];
  if (issue) return { problem: yamlProblem(issue.code, text, issue.linePos?.[0]) };
  const complexKey = (node: unknown): boolean =>
    yaml.isMap(node)
      ? node.items.some((p) => (p.key !== null && !yaml.isScalar(p.key)) || complexKey(p.value))
      : yaml.isSeq(node)
        ? node.items.some(complexKey)
        : false;
  if (complexKey(doc.contents)) return { problem: "a key is a list or mapping (keys are plain words)" };
  try {
    return { value: doc.toJS({ maxAliasCount: 100 }) };
  } catch {
    // "Unresolved alias …: <the name>", a value that started with * (no line from the library)
    return { problem: NO_ANCHOR };
  }
}

const NO_ANCHOR = "an alias (*name) refers to no anchor set before it: quote a value that starts with *";

/** Parse and validate config.yaml's text; ECONFIG names the problem and `file`. */
function parseConfigText(text: string, file: string, opts: ParseConfigOptions = {}): AttuneConfigFile {
  const read = readYaml(text);
  if ("problem" in read)
    throw new AttuneError(ErrorCodes.ECONFIG, `${file}: not valid YAML: ${read.problem}`, {
      path: file,
      hint: "fix the YAML where shown (`attune config show` reads it back), or move the file away to start from the defaults",
    });
  const doc = read.value;
  if (doc !== null && doc !== undefined && (typeof doc !== "object" || Array.isArray(doc))) {
    throw new AttuneError(ErrorCodes.ECONFIG, `${file}: must be a mapping of keys`, {
      path: file,
      hint: "write config.yaml as `key: value` lines (see `attune config show` for the keys)",
    });
  }
  return parseConfig(doc, file, opts);
}

/** Atomic (temp + rename) and mode 0600: the file may hold registry tokens. */
export async function writeConfigFile(home: string, cfg: AttuneConfigFile): Promise<void> {
  const valid = parseConfig(cfg);
  await makeDirs(home, 0o700);
  await replaceFile(await editedPath(path.join(home, CONFIG_FILE_NAME)), loadYaml().stringify(valid));
}

/** Write `text` to a temp sibling of `file` (mode 0600) and rename it over `file`. */
async function replaceFile(file: string, text: string): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    await fs.writeFile(tmp, text, { mode: 0o600, flag: "wx" });
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw ioError(e, file, "write");
  }
}

/**
 * The file an edit of `file` must replace: `file` itself, or, when it is a symbolic link (a
 * config.yaml kept with one's dotfiles), the file it points to, so the link stays a link.
 */
async function editedPath(file: string): Promise<string> {
  const st = await fs.lstat(file).catch(() => null);
  if (!st?.isSymbolicLink()) return file;
  try {
    return await fs.realpath(file);
  } catch (e) {
    throw new AttuneError(ErrorCodes.ECONFIG, `${file} is a link to a file that does not exist`, {
      path: file,
      cause: e,
      hint: "point the link at an existing config.yaml, or remove the link",
    });
  }
}

/**
 * `next` without every entry whose name `old` repeats and `change` removed one of: the file names a
 * registry twice, and removing that registry removes each entry of the name, not only the one
 * `change` found (else the file would still repeat it, and `registry remove` could never mend it).
 */
function withoutRepeatsOfRemoved(old: RegistryConfig[], next: RegistryConfig[]): RegistryConfig[] {
  const count = (name: string) => old.filter((r) => r.name === name).length;
  const gone = new Set(old.filter((r) => !next.includes(r) && count(r.name) > 1).map((r) => r.name));
  return gone.size === 0 ? next : next.filter((r) => !(old.includes(r) && gone.has(r.name)));
}

/** How long an edit of config.yaml waits for another process's edit to finish. */
const CONFIG_LOCK_WAIT_MS = 10_000;

/**
 * Change the registries of config.yaml (`attune registry add/remove`): `change` gets the file as it
 * is now and returns the new list of registries (and a result for the caller). Concurrent editors
 * take turns under a lock (`config.yaml.lock`, proper-lockfile: stale after 10 s if its process
 * died), so each one's read and write see every edit made before it; without it, of four
 * concurrent `registry add`s only two were kept. The file is edited as a YAML document: the other
 * keys, comments and formatting stay as written (integers beyond 2^53 too), and a config.yaml that
 * is a link to another file is edited there. ECONFIG when the result would not be valid. A file
 * that names a registry twice is read all the same, and a registry `change` removes goes with every
 * entry of its name: that is how a repeated name is mended (`attune registry remove <name>`).
 */
export async function updateConfigFile<T>(
  home: string,
  change: (cfg: AttuneConfigFile) => { registries: RegistryConfig[]; result: T },
): Promise<T> {
  await makeDirs(home, 0o700);
  const link = path.join(home, CONFIG_FILE_NAME);
  const file = await editedPath(link);
  let release: (() => Promise<void>) | undefined;
  try {
    release = await loadLockfile().lock(file, {
      realpath: false, // the file need not exist yet
      lockfilePath: `${file}.lock`,
      stale: 10_000,
      retries: {
        retries: Math.ceil(CONFIG_LOCK_WAIT_MS / 100),
        minTimeout: 20,
        maxTimeout: 100,
        factor: 1.5,
      },
    });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ELOCKED")
      throw new AttuneError(ErrorCodes.ELOCKED, `${link} is being changed by another process`, {
        path: link,
        cause: e,
        hint: `retry; if no attune command is running, remove ${file}.lock`,
      });
    throw ioError(e, `${file}.lock`, "lock");
  }
  try {
    // read once, under the lock: what `change` sees is what is edited
    const read = await readConfigText(link);
    const text = read ?? "";
    // a file whose registries repeat a name is read anyway: removing them is how it is mended
    const current = read === null ? {} : parseConfigText(read, link, { allowDuplicateNames: true });
    const changed = change(current);
    const { result } = changed;
    const registries = withoutRepeatsOfRemoved(current.registries ?? [], changed.registries);
    const yaml = loadYaml();
    // integers as BigInt: a value beyond 2^53 elsewhere in the file is written back as it was
    const doc = yaml.parseDocument(text, { intAsBigInt: true });
    const old = current.registries ?? [];
    const seq = doc.get("registries", true);
    // `change` keeps the registries it keeps in their order and appends new ones: the list is
    // edited in place, item by item, so the comments on the other items stay too
    if (yaml.isSeq(seq) && seq.items.length === old.length) {
      for (let i = old.length - 1; i >= 0; i--) if (!registries.includes(old[i])) seq.delete(i);
      if (seq.items.length === 0) seq.flow = false; // `registries: []` grows as a block list
      for (const r of registries) if (!old.includes(r)) seq.add(doc.createNode(r));
    } else {
      doc.set("registries", doc.createNode(registries));
    }
    const invalid = (problem: string) =>
      new AttuneError(ErrorCodes.ECONFIG, `${link}: this change would leave the file invalid: ${problem}`, {
        path: link,
        hint: "edit config.yaml by hand (an alias elsewhere may refer to an anchor in the registry's entry); nothing was changed",
      });
    let out: string;
    try {
      out = doc.toString();
    } catch {
      // the registry removed held an anchor that another key's alias (*name) refers to
      throw invalid(NO_ANCHOR);
    }
    // read back with the very reader of readConfigFile: never write what would not read back
    const back = readYaml(out);
    if ("problem" in back) throw invalid(back.problem);
    parseConfig(back.value, link);
    // the file's own line endings and byte-order mark, as it was written (an editor on Windows)
    if (text.includes("\r\n")) out = out.replace(/\r?\n/g, "\r\n");
    if (text.startsWith("\ufeff")) out = `\ufeff${out}`;
    await replaceFile(file, out);
    return result;
  } finally {
    await release?.().catch(() => undefined);
  }
}

/**
 * What is wrong with one ATTUNE_REGISTRIES item that is not `name=url`, said without quoting any of
 * it: an item that is no name=url is often a URL (with a token in its query or its user info) or
 * the tail of one cut at a comma, and the message goes to terminals, logs and API answers.
 */
function itemProblem(item: string): string | null {
  const eq = item.indexOf("=");
  if (eq < 0) return /^\s*[a-z][a-z0-9+.-]*:/i.test(item) ? 'has no "name=" before its URL' : 'has no "="';
  const name = item.slice(0, eq).trim();
  if (name === "") return 'has no registry name before its "="';
  if (!REGISTRY_NAME_RE.test(name))
    return 'has a registry name that is not [A-Za-z0-9][A-Za-z0-9_.-]* (at most 64) before its first "="';
  if (item.slice(eq + 1).trim() === "") return 'has no URL after its "="';
  return null;
}

const COMMA_HINT = "commas separate registries: write a comma inside a URL as %2C";

/** `ATTUNE_REGISTRIES=name=url,name2=url2`: priority follows the order given. */
export function registriesFromEnv(env: NodeJS.ProcessEnv = process.env): RegistryConfig[] | undefined {
  const raw = env.ATTUNE_REGISTRIES?.trim();
  if (!raw) return undefined;
  const out: RegistryConfig[] = [];
  for (const [i, item] of raw.split(",").entries()) {
    // the item after a URL with a query is likely the rest of that URL, cut at its comma
    const afterQuery = i > 0 && /[?#]/.test(out[i - 1]?.url ?? "");
    const wrong = itemProblem(item);
    if (wrong) {
      // the item is never echoed, not even redacted: it may be (part of) a URL holding a secret
      throw new AttuneError(
        ErrorCodes.ECONFIG,
        `ATTUNE_REGISTRIES: item ${i + 1} ${wrong}; each comma-separated item must be name=url`,
        {
          details: { field: "ATTUNE_REGISTRIES", item: i + 1 },
          hint: afterQuery
            ? COMMA_HINT
            : /:\/\/[^/?#\s]*@/.test(item)
              ? "use ATTUNE_REGISTRIES=name=https://host/index.json,name2=..., with no user name or password in the URL: set the registry's headers in config.yaml instead"
              : "use ATTUNE_REGISTRIES=name=https://host/index.json,name2=...",
        },
      );
    }
    const eq = item.indexOf("=");
    const name = item.slice(0, eq).trim();
    const url = item.slice(eq + 1).trim();
    // "a=https://h/i.json?x=1,y=2" would otherwise make a registry "y" at the relative path "2"
    const problem = registryUrlProblem(url);
    if (problem) {
      // the item is not echoed: it may hold a secret
      throw new AttuneError(
        ErrorCodes.ECONFIG,
        `ATTUNE_REGISTRIES: the URL of registry "${name}" ${problem}`,
        {
          details: { field: "ATTUNE_REGISTRIES", item: i + 1 },
          hint: urlHasCredentials(url)
            ? "set the registry's headers in config.yaml instead"
            : afterQuery
              ? COMMA_HINT
              : "give the index as an https:// URL, a file:/// URL or an absolute path (a relative path is not accepted here)",
        },
      );
    }
    if (out.some((r) => r.name === name)) {
      throw new AttuneError(ErrorCodes.ECONFIG, `ATTUNE_REGISTRIES: registry "${name}" is listed twice`, {
        details: { field: "ATTUNE_REGISTRIES", item: i + 1 },
        hint: "give each registry in ATTUNE_REGISTRIES its own name, or drop the repeated item",
      });
    }
    out.push({ name, url, priority: i + 1, enabled: true });
  }
  return out;
}
