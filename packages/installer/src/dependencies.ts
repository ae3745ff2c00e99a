import { loadSemver } from "./lazy";
import { AttuneError, ErrorCodes } from "@attune/pack-storage";

export interface DependencyProblem {
  ref: string;
  range: string;
  installed: string | null;
}

/**
 * Check that every `dependencies` entry of pack.yaml is installed at a version in its range.
 * All problems are reported at once (not the first only) so the user can fix them in one go.
 */
export async function checkDependencies(
  packRef: string,
  deps: Array<{ ref: string; range: string }>,
  installedVersion: (ref: string) => Promise<string | null>,
): Promise<void> {
  const problems: DependencyProblem[] = [];
  for (const dep of deps) {
    if (dep.ref === packRef) continue; // a self-reference is satisfied by the pack being installed
    const installed = await installedVersion(dep.ref);
    const range = dep.range && dep.range.trim() !== "" ? dep.range : "*";
    if (installed === null || !loadSemver().satisfies(installed, range, { includePrerelease: true }))
      problems.push({ ref: dep.ref, range, installed });
  }
  if (problems.length === 0) return;
  const list = problems
    .map((p) => `${p.ref}@${p.range} (${p.installed ? `installed: ${p.installed}` : "not installed"})`)
    .join(", ");
  throw new AttuneError(ErrorCodes.EDEPENDENCY, `pack '${packRef}' needs ${list}`, {
    hint: "install the missing packs first, or pass skip_deps (--skip-deps) to install anyway",
    details: { field: "dependencies", problems },
  });
}

/** pack.yaml dependencies as stored in the Pack row: "ref" or "ref@range". */
export function formatDependencies(deps: Array<{ ref: string; range: string }>): string[] {
  return deps.map((d) => (d.range && d.range !== "*" ? `${d.ref}@${d.range}` : d.ref));
}
