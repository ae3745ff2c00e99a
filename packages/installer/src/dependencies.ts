import { parseDependency } from "@attune/pack-registry";
import { AttuneError, ErrorCodes } from "@attune/pack-storage";
import { loadSemver } from "./lazy";
import type { ListedRecord } from "./record";
import type { Dependent, DependencyProblem } from "./types";

export type { Dependent, DependencyProblem };

/**
 * The `dependencies` entries of pack.yaml that are not installed at a version in their range
 * (what an install with skip_deps leaves unmet, and reports).
 */
export async function unmetDependencies(
  packRef: string,
  deps: Array<{ ref: string; range: string }>,
  installedVersion: (ref: string) => Promise<string | null>,
): Promise<DependencyProblem[]> {
  const problems: DependencyProblem[] = [];
  for (const dep of deps) {
    if (dep.ref === packRef) continue; // a self-reference is satisfied by the pack being installed
    const installed = await installedVersion(dep.ref);
    const range = dep.range && dep.range.trim() !== "" ? dep.range : "*";
    if (installed === null || !loadSemver().satisfies(installed, range, { includePrerelease: true }))
      problems.push({ ref: dep.ref, range, installed });
  }
  return problems;
}

/**
 * Check that every `dependencies` entry of pack.yaml is installed at a version in its range.
 * All problems are reported at once (not the first only) so the user can fix them in one go.
 */
export async function checkDependencies(
  packRef: string,
  deps: Array<{ ref: string; range: string }>,
  installedVersion: (ref: string) => Promise<string | null>,
  /** whether an enabled registry could resolve `attune pack install <ref>` (the hint's command) */
  registries = true,
): Promise<void> {
  const problems = await unmetDependencies(packRef, deps, installedVersion);
  if (problems.length === 0) return;
  const list = problems
    .map((p) => `${p.ref}@${p.range} (${p.installed ? `installed: ${p.installed}` : "not installed"})`)
    .join(", ");
  throw new AttuneError(ErrorCodes.EDEPENDENCY, `pack '${packRef}' needs ${list}`, {
    hint: dependencyHint(problems, registries),
    details: { field: "dependencies", problems },
  });
}

/**
 * What to do, by case: a missing pack is installed, one installed at a version out of range is
 * replaced by a matching version; each with the command that does it.
 */
function dependencyHint(problems: DependencyProblem[], registries: boolean): string {
  // a bare ref installs from a registry: with none enabled, say where else a pack comes from
  if (!registries) {
    // a pack installed at a version out of range is not "installed first": a version in range is
    const one = problems.length === 1;
    const what = problems.every((p) => p.installed === null)
      ? `install ${one ? "it" : "them"} first`
      : problems.every((p) => p.installed !== null)
        ? `install a version in the range needed of ${one ? "it" : "each"}`
        : "install the missing packs, and a version in the range needed of the others, first";
    return `${what} from ${one ? "its" : "their"} source (a directory, an archive or a git URL: \`attune pack install <path-or-url>\`; no registry is configured to install ${problems.map((p) => p.ref).join(", ")} by name), or pass skip_deps (--skip-deps) to install anyway`;
  }
  // a range with a shell's special characters (>=, spaces, ||) is quoted
  const spec = (p: DependencyProblem) => {
    const s = p.range === "*" ? p.ref : `${p.ref}@${p.range}`;
    return /^[\w@^~.+-]+$/.test(s) ? s : `'${s}'`;
  };
  const commands = (ps: DependencyProblem[]) =>
    ps.map((p) => `\`attune pack install ${spec(p)}\``).join(", ");
  const missing = problems.filter((p) => p.installed === null);
  const wrong = problems.filter((p) => p.installed !== null);
  const steps: string[] = [];
  if (missing.length > 0)
    steps.push(`install the missing ${missing.length === 1 ? "pack" : "packs"} first: ${commands(missing)}`);
  if (wrong.length > 0) steps.push(`install a version in the range needed: ${commands(wrong)}`);
  return `${steps.join("; ")}; or pass skip_deps (--skip-deps) to install anyway`;
}

/**
 * The installed packs (other than `ref` itself) whose recorded dependencies name `ref` and would
 * not be satisfied by `version` (null: `ref` is being removed). Same rule as checkDependencies:
 * a prerelease inside the range counts.
 */
export function brokenDependents(
  ref: string,
  version: string | null,
  installed: ListedRecord[],
): Dependent[] {
  const out: Dependent[] = [];
  for (const rec of installed) {
    if (!rec.installation || rec.pack.ref === ref) continue;
    for (const spec of rec.pack.dependencies ?? []) {
      let dep: { ref: string; range: string };
      try {
        dep = parseDependency(String(spec));
      } catch {
        continue; // validated when that pack was installed; a row edited by hand is not ours to judge
      }
      if (dep.ref !== ref) continue;
      if (version === null || !loadSemver().satisfies(version, dep.range, { includePrerelease: true }))
        out.push({ ref: rec.pack.ref, version: rec.pack.version, range: dep.range });
    }
  }
  return out.sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
}

/**
 * Refuse to install `version` of `ref` (or, with null, to uninstall it) when installed packs depend
 * on it in a range it would leave unsatisfied: a dependency checked only when the dependent was
 * installed would otherwise break silently from the other side.
 */
export function checkDependents(ref: string, version: string | null, installed: ListedRecord[]): void {
  const broken = brokenDependents(ref, version, installed);
  if (broken.length === 0) return;
  const list = broken.map((d) => `${d.ref} ${d.version} (needs ${ref}@${d.range})`).join(", ");
  const message =
    version === null
      ? `pack '${ref}' is needed by installed packs: ${list}`
      : `installing ${ref} ${version} would break installed packs that depend on it: ${list}`;
  const hint =
    version === null
      ? uninstallHint(ref, broken, neededBy(ref, installed))
      : `install a version of ${ref} they accept, upgrade or uninstall them first, or pass skip_deps (--skip-deps) to install anyway`;
  throw new AttuneError(ErrorCodes.EDEPENDENCY, message, {
    hint,
    details: { field: "dependencies", dependents: broken },
  });
}

/**
 * The way on for an uninstall that installed packs depend on. A dependent that `ref` itself needs
 * (directly or through others: a cycle) cannot be uninstalled first, since `ref` would then be
 * broken, so the hint says to break the cycle with --skip-deps instead of something impossible.
 */
function uninstallHint(ref: string, broken: Dependent[], needs: Set<string>): string {
  const cyclic = broken.filter((d) => needs.has(d.ref)).map((d) => d.ref);
  if (cyclic.length === 0)
    return "uninstall those packs first, or pass skip_deps (--skip-deps) to uninstall anyway";
  const others = broken.filter((d) => !needs.has(d.ref)).map((d) => d.ref);
  const names = cyclic.join(", ");
  return (
    `${ref} and ${names} need each other (a dependency cycle), so neither can go first: ` +
    (others.length > 0 ? `uninstall ${others.join(", ")} first, then ` : "") +
    `uninstall ${ref} with skip_deps (--skip-deps), then ${names}`
  );
}

/** Every installed pack that `ref` needs, directly or through other installed packs. */
function neededBy(ref: string, installed: ListedRecord[]): Set<string> {
  const deps = new Map<string, string[]>();
  for (const rec of installed) {
    if (!rec.installation) continue;
    const refs: string[] = [];
    for (const spec of rec.pack.dependencies ?? []) {
      try {
        refs.push(parseDependency(String(spec)).ref);
      } catch {
        // as in brokenDependents: not ours to judge
      }
    }
    deps.set(rec.pack.ref, refs);
  }
  const seen = new Set<string>();
  const queue = [...(deps.get(ref) ?? [])];
  while (queue.length > 0) {
    const next = queue.pop()!;
    if (next === ref || seen.has(next)) continue;
    seen.add(next);
    queue.push(...(deps.get(next) ?? []));
  }
  return seen;
}

/** pack.yaml dependencies as stored in the Pack row: "ref" or "ref@range". */
export function formatDependencies(deps: Array<{ ref: string; range: string }>): string[] {
  return deps.map((d) => (d.range && d.range !== "*" ? `${d.ref}@${d.range}` : d.ref));
}
