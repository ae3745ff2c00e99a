import { GIT_REF_MAX_LENGTH } from "@attune/pack-registry";
import { z } from "zod";

/**
 * Every request and response shape of /api/v1, once. Requests are parsed with these schemas;
 * the OpenAPI document is generated from the same objects, so the two cannot drift.
 */
export const REF_PATTERN = /^[a-z][a-z0-9_-]+$/;
const noControlChars = (s: string) => !/[\u0000-\u001f\u007f]/.test(s);

export const SOURCE_TYPES = ["git", "archive", "local_directory", "local_archive", "registry"] as const;

export const InstallBody = z
  .object({
    source: z
      .string()
      .min(1)
      .max(4096)
      .refine(noControlChars, "must not contain control characters")
      .describe(
        "git URL, archive URL, local path (inside ATTUNE_LOCAL_SOURCE_ROOTS) or registry ref[@version]",
      ),
    // checked by the library, as in local mode, so a refusal carries the same message and hint
    // (a git ref: at most GIT_REF_MAX_LENGTH characters, no leading '-', no control characters, …)
    ref_spec: z
      .string()
      .optional()
      .describe(
        `git tag, branch or commit to check out (at most ${GIT_REF_MAX_LENGTH} characters, not starting with '-'), or a registry version or range`,
      ),
    force: z.boolean().optional().describe("replace an installed ref+version"),
    // its form is checked by the installer (EINVALID_CHECKSUM, as in local mode; the prefix and the
    // hex digits in either case); here only that it is a string of a plausible length
    checksum: z
      .string()
      .max(200)
      .optional()
      .describe(
        'expected checksum, "sha256:" and 64 hex digits (either case): of the pack directory, or of the archive bytes for an archive source; a mismatch installs nothing',
      ),
    skip_deps: z
      .boolean()
      .optional()
      .describe(
        "install even when pack.yaml's dependencies are not installed in range (the response lists them)",
      ),
    skip_tests: z
      .boolean()
      .optional()
      .describe(
        "recorded in the installation's meta.skip_tests only: the registry runs no pack tests itself",
      ),
    registry: z.string().min(1).max(200).optional().describe("only look the ref up in this registry"),
    refresh: z
      .boolean()
      .optional()
      .describe(
        "read the registry indexes again instead of using cached copies, so latest is the newest published (a missing version is always looked up again)",
      ),
  })
  .strict();

/** A query number in plain decimal digits, 1..max ("1e3" and "0x10" are not page numbers). */
function decimal(max: number, description: string) {
  // one message, as the CLI words it, whatever is wrong ("1e3", "0x10", 0, or 20 digits, which
  // zod reported as "Too big: expected int …" twice)
  return z
    .string()
    .refine((s) => /^[0-9]{1,16}$/.test(s) && Number(s) >= 1 && Number(s) <= max, {
      message: `must be a whole number from 1 to ${max}, in decimal digits`,
    })
    .describe(description)
    .transform(Number);
}

function wholeNumber(max: number, byDefault: number) {
  return decimal(max, `a whole number from 1 to ${max}, in decimal digits (default ${byDefault})`).default(
    byDefault,
  );
}

/** The list's limits, which a history page shares. */
export const MAX_PAGE = 1_000_000;
export const MAX_PAGE_SIZE = 100;
export const DEFAULT_PAGE_SIZE = 20;

export const ListQuery = z
  .object({
    source_type: z.enum(SOURCE_TYPES).optional(),
    page: wholeNumber(MAX_PAGE, 1),
    page_size: wholeNumber(MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE),
  })
  .strict();

/**
 * Paging of a history is optional: without either parameter the answer is the whole history, as
 * before; with either, one page (the other takes its default) and a `pagination` object. Pages
 * count from the newest end (page 1: the newest events), each page oldest first.
 */
export const HistoryQuery = z
  .object({
    page: decimal(
      MAX_PAGE,
      `a whole number from 1 to ${MAX_PAGE}, in decimal digits; 1 (the default once page_size is given) holds the newest events, the last page the oldest`,
    ).optional(),
    page_size: decimal(
      MAX_PAGE_SIZE,
      `a whole number from 1 to ${MAX_PAGE_SIZE}, in decimal digits (default ${DEFAULT_PAGE_SIZE} once page is given)`,
    ).optional(),
  })
  .strict();

export const DeleteQuery = z
  .object({
    version: z.string().min(1).max(256).optional().describe("remove only this version"),
    skip_deps: z
      .enum(["true", "false"])
      .optional()
      .describe("true: uninstall even if installed packs depend on it (else 409 EDEPENDENCY naming them)"),
  })
  .strict();

export const SearchQuery = z
  .object({
    q: z.string().min(1).max(200).describe("text to search for"),
    refresh: z
      .enum(["true", "false"])
      .optional()
      .describe("true: read every registry index again instead of using copies younger than the cache TTL"),
  })
  .strict();

export const EmptyQuery = z.object({}).strict();

/**
 * A verify takes no options (DESIGN.md §11): no body, or an empty JSON object (what the CLI's remote
 * mode sends). Any field is refused, as on install, so a client that thinks it chose something
 * (a version, a file list) learns it did not.
 */
export const VerifyBody = z
  .object({})
  .strict()
  .describe("verify takes no options: send no body, or an empty JSON object");

const timestamp = z.iso.datetime({ offset: true });
const checksum = z.string().regex(/^sha256:[0-9a-f]{64}$/);

export const Pack = z.object({
  id: z.number().int(),
  ref: z.string(),
  label: z.string(),
  description: z.string().nullable(),
  version: z.string(),
  tags: z.array(z.string()),
  conf_schema: z.unknown(),
  meta: z.record(z.string(), z.unknown()),
  runtime_deps: z.array(z.string()),
  dependencies: z.array(z.string()),
  created: timestamp,
  updated: timestamp,
});

export const Installation = z.object({
  id: z.number().int(),
  pack_id: z.number().int(),
  source_type: z.enum(SOURCE_TYPES),
  source_url: z.string().nullable(),
  source_ref: z.string().nullable(),
  resolved_commit: z.string().nullable(),
  checksum,
  checksum_verified: z.boolean(),
  installed_at: timestamp,
  installed_by: z.number().int().nullable(),
  installation_method: z.enum(["api", "cli", "manual"]),
  storage_path: z.string(),
  meta: z.record(z.string(), z.unknown()),
  created: timestamp,
  updated: timestamp,
});

export const PackWithInstallation = z.object({ pack: Pack, installation: Installation });

const BrokenDependents = z
  .array(z.object({ ref: z.string(), version: z.string(), range: z.string() }))
  .optional()
  .describe(
    "only after skip_deps, when it let this through: installed packs whose range for this pack is no longer met (range: what each needs of it)",
  );

export const InstallResult = PackWithInstallation.extend({
  unmet_dependencies: z
    .array(z.object({ ref: z.string(), range: z.string(), installed: z.string().nullable() }))
    .optional()
    .describe(
      "only after skip_deps, when it let this through: the pack's dependencies not installed at a version in their range (installed: the version there is, or null)",
    ),
  broken_dependents: BrokenDependents,
});
/** A listed pack; `installation` is null for a pack row whose installation record is missing. */
export const PackListItem = z.object({ pack: Pack, installation: Installation.nullable() });

export const InstallEvent = z.object({
  id: z.number().int(),
  pack_ref: z.string(),
  version: z.string().nullable(),
  action: z
    .enum(["install", "upgrade", "reinstall", "uninstall", "verify", "failed"])
    .describe("a downgrade is recorded as upgrade, with details.downgrade = true"),
  outcome: z.enum(["success", "failure", "interrupted"]),
  source_type: z.string().nullable(),
  source_url: z.string().nullable(),
  actor_id: z.number().int().nullable(),
  actor_name: z.string().nullable(),
  method: z.string().nullable(),
  error: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
  created: timestamp,
});

export const VerifyResult = z.object({
  version: z.string().nullable().describe("the installed version that was verified"),
  ok: z.boolean(),
  expected: checksum.nullable(),
  actual: checksum.nullable(),
  changed: z.array(z.string()),
  added: z.array(z.string()),
  removed: z.array(z.string()),
  error: z
    .string()
    .nullable()
    .describe(
      "why the tree could not be hashed at all (a planted symbolic link, a special file, a bad name)",
    ),
  history_error: z
    .string()
    .nullable()
    .describe(
      "why this verify is not in the pack's history (a locked or read-only database); the result stands",
    ),
});

export const UninstallResult = z.object({
  ref: z.string(),
  removed: z.array(z.string()).describe("versions whose files were removed"),
  broken_dependents: BrokenDependents,
  files_error: z
    .string()
    .optional()
    .describe(
      "only when the uninstall is recorded but its files could not be removed (e.g. a read-only disk): why; the next write on the store removes them",
    ),
});

export const Registry = z.object({
  name: z.string(),
  url: z.string(),
  priority: z.number(),
  enabled: z.boolean(),
});

export const SearchHit = z.looseObject({ ref: z.string(), version: z.string(), registry: z.string() });

export const RegistryState = z.object({
  name: z.string(),
  status: z
    .enum(["fresh", "cached", "stale", "error"])
    .describe("stale: an older copy was used because the fetch failed"),
  fetched_at: z.string().nullable(),
  age_seconds: z.number().nullable(),
  error: z
    .object({
      code: z.string(),
      detail: z.string(),
      hint: z
        .string()
        .nullable()
        .describe("how to mend it on this server (its config.yaml or environment), when known"),
    })
    .nullable(),
});

export const SearchResults = z.object({ data: z.array(SearchHit), registries: z.array(RegistryState) });

export const Pagination = z.object({
  page: z.number().int().min(1),
  page_size: z.number().int().min(1),
  total_items: z.number().int().min(0),
  total_pages: z.number().int().min(0),
});

export const Problem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  code: z.string(),
  instance: z.string().optional(),
  request_id: z.string().optional(),
  hint: z.string().optional(),
  errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  expected: checksum.optional().describe("EINTEGRITY: the checksum that was expected"),
  actual: checksum.optional().describe("EINTEGRITY: the checksum found"),
  holder: z
    .object({ pid: z.number().int().positive(), host: z.string() })
    .optional()
    .describe(
      "ELOCKED: the process that holds the lock, when the lock names it (an embedded store on Linux)",
    ),
});

export const Health = z.object({ status: z.enum(["ok", "shutting_down"]) });
export const Readiness = z.object({
  status: z.enum(["ready", "not_ready", "shutting_down"]),
  /** why not ready: the error's code (EDATABASE, ETIMEOUT, ENOENT, EIO); details are in the log */
  code: z.string().optional(),
});

export const data = <T extends z.ZodType>(inner: T) => z.object({ data: inner });
export const PackPage = z.object({ data: z.array(PackListItem), pagination: Pagination });
export const History = z.object({
  data: z.array(InstallEvent).describe("oldest first (within a page too)"),
  pagination: Pagination.optional().describe("only when page or page_size was given"),
});
