import type { output } from "zod/mini";
import type { $ZodIssue } from "zod/v4/core";
import { AttuneError, ErrorCodes, versionProblem } from "@attune/pack-storage";
import { checkDependencies } from "../manifest/dependencies";
import { validateGitRef } from "../policy/git-ref";
import { loadParsers, once } from "../lazy";
import { NO_CREDENTIALS_MESSAGE, urlHasCredentials } from "../policy/url-credentials";
import { issuePath, issueText } from "../issue-text";

export const PACK_REF_RE = /^[a-z][a-z0-9_-]+$/;
const CHECKSUM_RE = /^sha256:[0-9a-fA-F]{64}$/;

function buildSchemas() {
  const { zm: z } = loadParsers();
  const checksum = z.pipe(
    z.string().check(z.regex(CHECKSUM_RE, "must be sha256: followed by 64 hex digits")),
    z.transform((s: string) => s.toLowerCase()),
  );
  const httpUrl = z.string().check(
    z.refine((s) => /^https?:\/\/[^\s]+$/i.test(s) && URL.canParse(s), "must be an http(s) URL"),
    z.refine((s) => !urlHasCredentials(s), NO_CREDENTIALS_MESSAGE),
    // port 0 names no port: said when the index is read, not when the entry is installed
    z.refine((s) => !URL.canParse(s) || new URL(s).port !== "0", "has port 0, which is not a port"),
  );
  const gitRef = z.string().check(
    z.refine((r) => {
      try {
        validateGitRef(r);
        return true;
      } catch {
        return false;
      }
    }, "is not a safe git ref"),
  );

  // the ref is its own field: a #fragment would make every install of the entry fail
  const gitUrl = httpUrl.check(
    z.refine((s) => !s.includes("#"), "must not have a #fragment (give the tag or branch in ref)"),
    z.refine((s) => !s.includes("?"), "must not have a ?query (git adds /info/refs after it)"),
  );
  const gitSource = z.strictObject({ type: z.literal("git"), url: gitUrl, ref: gitRef, checksum });
  const archiveSource = z.strictObject({ type: z.literal("archive"), url: httpUrl, checksum });
  const nonEmpty = z.string().check(z.minLength(1));
  const contentItem = z.union([nonEmpty, z.strictObject({ name: nonEmpty })], {
    error: 'must be a name, or an object with a "name" (and no other key)',
  });
  const contentList = z._default(z.array(contentItem), []);

  const indexEntrySchema = z
    .strictObject({
      ref: z.string().check(z.regex(PACK_REF_RE, "must match ^[a-z][a-z0-9_-]+$")),
      label: z.optional(z.string()),
      description: z._default(z.string(), ""),
      // the rule of pack.yaml and of storage (build metadata such as 1.0.0+b1 included), so every
      // pack that installs from a directory can also be published in an index, and none it refuses
      version: z.string().check((payload) => {
        const refused = versionProblem(payload.value);
        if (refused === null) return;
        const message =
          refused.reason === "syntax" ? "must be a strict semver version (1.2.3)" : refused.problem;
        payload.issues.push({ code: "custom", message, input: payload.value });
      }),
      author: z._default(z.string(), ""),
      email: z.optional(z.string()),
      license: z._default(z.string(), ""),
      homepage: z.optional(z.string()),
      keywords: z._default(z.array(z.string()), []),
      runtime_deps: z._default(z.array(z.string()), []),
      dependencies: z.optional(z.array(z.string())),
      install_sources: z
        .array(z.discriminatedUnion("type", [gitSource, archiveSource]))
        .check(z.minLength(1, "needs at least one source")),
      contents: z._default(
        z.strictObject({
          actions: contentList,
          sensors: contentList,
          triggers: contentList,
          rules: contentList,
          workflows: contentList,
        }),
        { actions: [], sensors: [], triggers: [], rules: [], workflows: [] },
      ),
    })
    .check((payload) => {
      // pack.yaml's rule for dependencies: an entry built from a pack.yaml (buildIndexEntry) passes it
      const { ref, dependencies } = payload.value;
      if (dependencies === undefined) return;
      const r = checkDependencies(dependencies, ref);
      if ("problem" in r) {
        const { index, message } = r.problem;
        payload.issues.push({
          code: "custom",
          message,
          input: dependencies[index],
          path: ["dependencies", index],
        });
      }
    });

  const indexHeadSchema = z.strictObject({
    registry_name: nonEmpty,
    registry_url: z.string(),
    version: z.literal("1.0", { error: 'must be "1.0" (the only index format supported)' }),
    last_updated: z.string().check(z.refine((s) => !Number.isNaN(Date.parse(s)), "must be an ISO-8601 date")),
    packs: z.array(z.unknown()),
  });
  return { gitSource, archiveSource, indexEntrySchema, indexHeadSchema };
}

/** Built on first use, from the bundled zod/mini (vendor/parsers.ts), when an index is first parsed. */
const schemas = once(buildSchemas);
type Schemas = ReturnType<typeof buildSchemas>;

export type GitInstallSource = output<Schemas["gitSource"]>;
export type ArchiveInstallSource = output<Schemas["archiveSource"]>;
export type InstallSource = GitInstallSource | ArchiveInstallSource;
export type IndexEntry = Omit<output<Schemas["indexEntrySchema"]>, "label"> & { label: string };
export interface RegistryIndex {
  registry_name: string;
  registry_url: string;
  version: "1.0";
  last_updated: string;
  packs: IndexEntry[];
}

function fieldOf(path: PropertyKey[]): string {
  return (
    path.map((k, i) => (typeof k === "number" ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`)).join("") ||
    "(root)"
  );
}

function indexError(
  source: string,
  where: string,
  issue: $ZodIssue,
  extra: Record<string, unknown>,
): AttuneError {
  const field = fieldOf(issuePath(issue));
  return new AttuneError(ErrorCodes.EINDEX, `index ${source}: ${where}${field}: ${issueText(issue)}`, {
    details: { source, field, ...extra },
    hint: "fix the registry index (or ask its maintainer to)",
  });
}

/** Validate one entry on its own (used by `mergeIndexEntry` and `parseIndex`). */
export function parseIndexEntry(value: unknown, source = "entry", position?: number): IndexEntry {
  const r = schemas().indexEntrySchema.safeParse(value);
  const raw = (value ?? {}) as { ref?: unknown; version?: unknown };
  const label = position === undefined ? "" : `packs[${position}]`;
  const who =
    typeof raw.ref === "string"
      ? ` (ref "${raw.ref}"${typeof raw.version === "string" ? ` ${raw.version}` : ""})`
      : "";
  if (!r.success) {
    const where = `${label}${who}`.trim();
    throw indexError(source, where ? `${where}: ` : "", r.error.issues[0], {
      entry: position ?? null,
      ref: typeof raw.ref === "string" ? raw.ref : null,
    });
  }
  return { ...r.data, label: r.data.label ?? r.data.ref };
}

/** Parse an index document (already JSON-decoded); EINDEX names the entry (position + ref) and the field. */
export function parseIndex(json: unknown, source = "index"): RegistryIndex {
  const head = schemas().indexHeadSchema.safeParse(json);
  if (!head.success) throw indexError(source, "", head.error.issues[0], {});
  const seen = new Set<string>();
  const packs = head.data.packs.map((p, i) => {
    const e = parseIndexEntry(p, source, i);
    const key = `${e.ref}@${e.version}`;
    if (seen.has(key)) {
      throw new AttuneError(
        ErrorCodes.EINDEX,
        `index ${source}: packs[${i}] (ref "${e.ref}" ${e.version}): duplicate of an earlier entry`,
        {
          details: { source, entry: i, ref: e.ref, field: "version" },
          hint: "fix the registry index (or ask its maintainer to): each ref and version may be listed once",
        },
      );
    }
    seen.add(key);
    return e;
  });
  return { ...head.data, version: "1.0", packs };
}
