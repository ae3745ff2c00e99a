import { loadSemver } from "../lazy";
import { isAttuneError, validateRef } from "@attune/pack-storage";
import { manifestError, show } from "./errors";
import type { PackDependency } from "./types";

/** `other_ref` or `other_ref@<semver range>` -> { ref, range } ("*" when no range is given). */
export function parseDependency(spec: string, field = "dependencies"): PackDependency {
  const at = spec.indexOf("@");
  const ref = at < 0 ? spec : spec.slice(0, at);
  const range = at < 0 ? "*" : spec.slice(at + 1).trim();
  try {
    validateRef(ref);
  } catch (err) {
    if (!isAttuneError(err)) throw err;
    throw manifestError(field, `${show(spec)} does not start with a valid pack ref`, {
      hint: 'write "other_ref" or "other_ref@<semver range>", e.g. "core@^1.2.0"',
    });
  }
  if (range === "" || loadSemver().validRange(range) === null) {
    throw manifestError(field, `${show(spec)} has an invalid semver range ${show(range)}`, {
      hint: 'use a range such as "^1.2.0", ">=1.0.0 <2.0.0" or "1.x"',
    });
  }
  return { ref, range };
}

export function parseDependencies(specs: string[], selfRef: string): PackDependency[] {
  const seen = new Set<string>();
  return specs.map((spec, i) => {
    const field = `dependencies.${i}`;
    const dep = parseDependency(spec, field);
    if (dep.ref === selfRef)
      throw manifestError(field, `the pack ${show(selfRef)} cannot depend on itself`, {
        hint: `remove ${show(selfRef)} from "dependencies" in pack.yaml`,
      });
    if (seen.has(dep.ref))
      throw manifestError(field, `${show(dep.ref)} is listed twice; keep one entry`, {
        hint: `keep one entry for ${show(dep.ref)} in "dependencies"`,
      });
    seen.add(dep.ref);
    return dep;
  });
}
