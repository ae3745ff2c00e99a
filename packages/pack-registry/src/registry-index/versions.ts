import { loadSemver } from "../lazy";
import { AttuneError, ErrorCodes, isValidVersion, versionProblem, VERSION_HINT } from "@attune/pack-storage";
import { PACK_REF_RE } from "./schema";

export interface PackSpec {
  ref: string;
  /** undefined = latest */
  versionSpec?: string;
}

/** `ref`, `ref@1.2.3`, `ref@latest`, `ref@^1.2`. */
export function parsePackSpec(input: string, field = "source"): PackSpec {
  const at = input.indexOf("@");
  const ref = at < 0 ? input : input.slice(0, at);
  const versionSpec = at < 0 ? undefined : input.slice(at + 1);
  if (!PACK_REF_RE.test(ref)) {
    throw new AttuneError(
      ErrorCodes.EINVALID_INPUT,
      `${field}: "${ref}" is not a pack ref (^[a-z][a-z0-9_-]+$)`,
      {
        details: { field },
      },
    );
  }
  if (versionSpec !== undefined) checkVersionSpec(versionSpec, field);
  return { ref, versionSpec };
}

export function checkVersionSpec(spec: string, field = "version"): void {
  if (spec === "latest" || loadSemver().valid(spec) === spec || loadSemver().validRange(spec) !== null) {
    if (spec.trim() !== "") return;
  }
  // a version whose number semver cannot hold: say so rather than "not a version"
  const refused = versionProblem(spec);
  if (refused?.reason === "number") {
    throw new AttuneError(ErrorCodes.EINVALID_INPUT, `${field}: "${spec}" ${refused.problem}`, {
      details: { field },
      hint: VERSION_HINT,
    });
  }
  throw new AttuneError(
    ErrorCodes.EINVALID_INPUT,
    `${field}: "${spec}" is not a version, "latest" or a semver range`,
    {
      details: { field },
      hint: "use ref, ref@1.2.3, ref@latest or ref@^1.2",
    },
  );
}

/**
 * Newest first, in the installer's order: by precedence, then by build metadata (compareBuild), so
 * 1.0.0+b2 comes before 1.0.0+b1 whatever the index's order. semver's rcompare ranks builds of one
 * version equal, which left "latest" to the index's order and made an install of it a "downgrade".
 */
export function newestFirst(versions: string[]): string[] {
  const semver = loadSemver();
  return [...versions].sort((a, b) => semver.compareBuild(b, a));
}

/**
 * Pick the version a spec means among the versions of one ref.
 * `latest` (or no spec) = the highest release, or the highest prerelease when there is no release.
 * A range = its highest match. "Highest" is by compareBuild (see newestFirst).
 */
export function pickVersion(versions: string[], spec?: string): string | null {
  const semver = loadSemver();
  const sorted = newestFirst(versions);
  if (spec === undefined || spec === "latest") {
    return sorted.find((v) => semver.prerelease(v) === null) ?? sorted[0] ?? null;
  }
  // an exact version with build metadata (1.0.0+b2) is that very string: it names one entry, though
  // semver ranks it equal to 1.0.0+b1 and a range would take either. One without build metadata
  // is that version itself when the index has it, else its newest build (1.0.0 matches 1.0.0+b2,
  // as semver and the dependency check say, which would otherwise accept what this refused)
  if (semver.valid(spec) === spec || isValidVersion(spec)) {
    const exact = sorted.find((v) => v === spec);
    if (exact !== undefined || spec.includes("+")) return exact ?? null;
    return sorted.find((v) => v.startsWith(`${spec}+`)) ?? null;
  }
  // not maxSatisfying: among equal precedences it keeps whichever came first
  return sorted.find((v) => semver.satisfies(v, spec)) ?? null;
}
