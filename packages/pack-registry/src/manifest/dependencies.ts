import { loadSemver } from "../lazy";
import { isValidRef } from "@attune/pack-storage";
import { manifestError, show } from "./errors";
import type { PackDependency } from "./types";

/** Why a `dependencies` list breaks the rule: the position, a sentence naming the spec, and a hint (for pack.yaml). */
export interface DependencyProblem {
  index: number;
  message: string;
  hint: string;
}

type SpecResult = PackDependency | Omit<DependencyProblem, "index">;

function readSpec(spec: string): SpecResult {
  const at = spec.indexOf("@");
  const ref = at < 0 ? spec : spec.slice(0, at);
  const range = at < 0 ? "*" : spec.slice(at + 1).trim();
  if (!isValidRef(ref)) {
    return {
      message: `${show(spec)} does not start with a valid pack ref`,
      hint: 'write "other_ref" or "other_ref@<semver range>", e.g. "core@^1.2.0"',
    };
  }
  if (range === "" || loadSemver().validRange(range) === null) {
    return {
      message: `${show(spec)} has an invalid semver range ${show(range)}`,
      hint: 'use a range such as "^1.2.0", ">=1.0.0 <2.0.0" or "1.x"',
    };
  }
  return { ref, range };
}

/** `other_ref` or `other_ref@<semver range>` -> { ref, range } ("*" when no range is given). */
export function parseDependency(spec: string, field = "dependencies"): PackDependency {
  const r = readSpec(spec);
  if ("message" in r) throw manifestError(field, r.message, { hint: r.hint });
  return r;
}

/**
 * pack.yaml's rule for `dependencies` (each spec valid, not the pack itself, no ref twice), also
 * applied to a registry index entry's: the parsed list, or the first problem.
 */
export function checkDependencies(
  specs: string[],
  selfRef: string,
): { dependencies: PackDependency[] } | { problem: DependencyProblem } {
  const seen = new Set<string>();
  const dependencies: PackDependency[] = [];
  for (const [index, spec] of specs.entries()) {
    const dep = readSpec(spec);
    if ("message" in dep) return { problem: { index, ...dep } };
    if (dep.ref === selfRef)
      return {
        problem: {
          index,
          message: `the pack ${show(selfRef)} cannot depend on itself`,
          hint: `remove ${show(selfRef)} from "dependencies" in pack.yaml`,
        },
      };
    if (seen.has(dep.ref))
      return {
        problem: {
          index,
          message: `${show(dep.ref)} is listed twice; keep one entry`,
          hint: `keep one entry for ${show(dep.ref)} in "dependencies"`,
        },
      };
    seen.add(dep.ref);
    dependencies.push(dep);
  }
  return { dependencies };
}

export function parseDependencies(specs: string[], selfRef: string): PackDependency[] {
  const r = checkDependencies(specs, selfRef);
  if ("problem" in r) {
    const { index, message, hint } = r.problem;
    throw manifestError(`dependencies.${index}`, message, { hint });
  }
  return r.dependencies;
}
