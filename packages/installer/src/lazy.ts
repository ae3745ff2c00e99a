import { createRequire } from "node:module";
import type SemverModule from "semver";

const require = createRequire(import.meta.url);
let semver: typeof SemverModule | undefined;

/** `semver`, loaded on first use (only installs compare versions; list/show/verify never do). */
export function loadSemver(): typeof SemverModule {
  return (semver ??= require("semver") as typeof SemverModule);
}
