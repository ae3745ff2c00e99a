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

/** A strict semantic version (`1.2.3`, `1.0.0-rc.1+build.5`; not `v1.2.3`, `^1.2`, `1.2`). */
export function validateVersion(version: string, field = "version"): string {
  if (typeof version !== "string" || version.length > MAX_VERSION || !SEMVER_RE.test(version)) {
    throw new AttuneError(
      ErrorCodes.EINVALID_VERSION,
      `${field} ${show(version)} is not a strict semantic version`,
      {
        hint: 'use MAJOR.MINOR.PATCH such as "1.2.3" (no "v" prefix, no ranges)',
        details: { field },
      },
    );
  }
  return version;
}

/** Whether `ref` passes validateRef (for callers that only need to know). */
export function isValidRef(ref: string): boolean {
  return typeof ref === "string" && ref.length <= MAX_REF && REF_RE.test(ref);
}

/** Whether `version` passes validateVersion (a strict semantic version). */
export function isValidVersion(version: string): boolean {
  return typeof version === "string" && version.length <= MAX_VERSION && SEMVER_RE.test(version);
}

/**
 * Split a storage entry name into ref and version: `<ref>-<version>` or the legacy `<ref>`.
 * Unambiguous because a ref has no `.` and a version's core always does: the version starts
 * after the last `-` that precedes its first `.`.
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

function show(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value.slice(0, 80)) : String(value);
}
