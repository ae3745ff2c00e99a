import { isAttuneError, validateVersion } from "@attune/pack-storage";

/** Why pack-storage's version rule refuses a version: its grammar, its length, or too large a number. */
export interface VersionRefusal {
  reason: "syntax" | "length" | "number";
  /** the reason after the value, e.g. "has a major number that is too large (at most 9007199254740991)" */
  problem: string;
  hint?: string;
}

/**
 * pack-storage's rule (validateVersion), for callers that report a refusal in their own words
 * (pack.yaml, a registry index, a version spec): null when `version` passes.
 */
export function versionRefusal(version: string): VersionRefusal | null {
  try {
    validateVersion(version);
    return null;
  } catch (err) {
    if (!isAttuneError(err)) throw err;
    const { reason, problem } = err.details ?? {};
    return reason === "length" || reason === "number"
      ? { reason, problem: String(problem), hint: err.hint }
      : { reason: "syntax", problem: "is not a strict semantic version", hint: err.hint };
  }
}
