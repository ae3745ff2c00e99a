import { loadSemver } from "../lazy";
import { AttuneError, ErrorCodes, isValidVersion } from "@attune/pack-storage";
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
 * Pick the version a spec means among the versions of one ref.
 * `latest` (or no spec) = the highest release, or the highest prerelease when there is no release.
 */
export function pickVersion(versions: string[], spec?: string): string | null {
  const sorted = [...versions].sort(loadSemver().rcompare);
  if (spec === undefined || spec === "latest") {
    return sorted.find((v) => loadSemver().prerelease(v) === null) ?? sorted[0] ?? null;
  }
  // an exact version is that very string: build metadata (1.0.0+b2) names one entry, though
  // semver ranks it equal to 1.0.0+b1 and a range would take either
  if (loadSemver().valid(spec) === spec || isValidVersion(spec))
    return sorted.find((v) => v === spec) ?? null;
  return loadSemver().maxSatisfying(sorted, spec);
}
