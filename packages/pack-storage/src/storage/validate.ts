import { AttuneError, ErrorCodes } from "../errors";

const REF_RE = /^[a-z][a-z0-9_-]+$/;
// semver.org's strict grammar: no `v` prefix, no ranges, no leading zeros in numeric identifiers
const SEMVER_RE =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;
// `<ref>-<version>` must fit in one file name (255 bytes) with room for internal suffixes
export const MAX_REF = 64;
export const MAX_VERSION = 128;

/** A pack ref: `^[a-z][a-z0-9_-]+$`, at most 64 characters. Returns it unchanged. */
export function validateRef(ref: string, field = "ref"): string {
  if (typeof ref !== "string" || ref.length > MAX_REF || !REF_RE.test(ref)) {
    throw new AttuneError(ErrorCodes.EINVALID_REF, `${field} ${show(ref)} is not a valid pack ref`, {
      hint: `a ref starts with a lower-case letter, then at least one of a-z 0-9 _ - (at most ${MAX_REF} characters)`,
      details: { field },
    });
  }
  return ref;
}

/**
 * semver's limit on MAJOR, MINOR and PATCH: above it the `semver` package throws ("Invalid major
 * version") wherever the version is compared, so such a version is refused where it is read. A
 * numeric prerelease identifier above it is fine (semver keeps it as text), and MAX_VERSION is well
 * under semver's 256 characters.
 */
export const MAX_VERSION_NUMBER = Number.MAX_SAFE_INTEGER;
const CORE_PARTS = ["major", "minor", "patch"] as const;

/** Why a version is refused: its grammar, its length, or a number semver cannot hold. */
export type VersionProblemReason = "syntax" | "length" | "number";

/** How to write a version that passes validateVersion. */
export const VERSION_HINT = `use MAJOR.MINOR.PATCH such as "1.2.3" (no "v" prefix, no ranges; each number at most ${MAX_VERSION_NUMBER})`;

/**
 * What is wrong with `version` (said after the value: "is not a strict semantic version"), or
 * null when it is one: the one rule behind validateVersion and isValidVersion, and for callers
 * that report a refusal in their own words (pack.yaml, a registry index, a version spec).
 */
export function versionProblem(version: unknown): { reason: VersionProblemReason; problem: string } | null {
  const syntax = { reason: "syntax", problem: "is not a strict semantic version" } as const;
  if (typeof version !== "string") return syntax;
  // the length first: it also bounds the regular expression's work
  if (version.length > MAX_VERSION)
    return { reason: "length", problem: `is too long (at most ${MAX_VERSION} characters)` };
  if (!SEMVER_RE.test(version)) return syntax;
  const core = version.split(/[-+]/, 1)[0].split(".");
  // Number(), as semver does: a 17-digit part that rounds down to the limit is too large there too
  const big = core.findIndex((n) => Number(n) > MAX_VERSION_NUMBER);
  if (big < 0) return null;
  return {
    reason: "number",
    problem: `has a ${CORE_PARTS[big]} number that is too large (at most ${MAX_VERSION_NUMBER})`,
  };
}

/**
 * A strict semantic version (`1.2.3`, `1.0.0-rc.1+build.5`; not `v1.2.3`, `^1.2`, `1.2`) whose
 * MAJOR, MINOR and PATCH are at most MAX_VERSION_NUMBER. `details` holds `reason` and `problem`
 * (the message without the field and value) for callers that report it in their own words.
 */
export function validateVersion(version: string, field = "version"): string {
  const found = versionProblem(version);
  if (found !== null) {
    throw new AttuneError(ErrorCodes.EINVALID_VERSION, `${field} ${show(version)} ${found.problem}`, {
      hint: VERSION_HINT,
      details: { field, ...found },
    });
  }
  return version;
}

/** Whether `ref` passes validateRef (for callers that only need to know). */
export function isValidRef(ref: string): boolean {
  return typeof ref === "string" && ref.length <= MAX_REF && REF_RE.test(ref);
}

/** Whether `version` passes validateVersion. */
export function isValidVersion(version: string): boolean {
  return versionProblem(version) === null;
}

/**
 * Split a storage entry name into ref and version: `<ref>-<version>` or the legacy `<ref>`.
 * Unambiguous because a ref has no `.` and a version's core always does: the version starts
 * after the last `-` that precedes its first `.`. The grammar only, not validateVersion's number
 * limit: an entry installed before that limit must stay listable (and removable with its ref).
 */
export function parseEntryName(name: string): { ref: string; version: string | null } | null {
  const dot = name.indexOf(".");
  if (dot > 0) {
    const dash = name.lastIndexOf("-", dot);
    if (dash <= 0) return null;
    const ref = name.slice(0, dash);
    const version = name.slice(dash + 1);
    return isValidRef(ref) && version.length <= MAX_VERSION && SEMVER_RE.test(version)
      ? { ref, version }
      : null;
  }
  return isValidRef(name) ? { ref: name, version: null } : null;
}

// what JSON.stringify leaves as it is but a terminal or a log viewer would act on: C1 controls,
// bidirectional marks, embeddings, overrides and isolates (they reorder the text around them)
const INVISIBLE = /[\u0080-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** A refused value as a message quotes it: JSON-escaped, invisible controls as \uNNNN. */
function show(value: unknown): string {
  if (typeof value !== "string") return String(value);
  return JSON.stringify(value.slice(0, 80)).replace(
    INVISIBLE,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
