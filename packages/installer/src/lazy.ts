import { createRequire } from "node:module";
import type LockfileModule from "proper-lockfile";
import type SemverModule from "semver";

const require = createRequire(import.meta.url);
let semver: typeof SemverModule | undefined;

/** `semver`, loaded on first use (only installs compare versions; list/show/verify never do). */
export function loadSemver(): typeof SemverModule {
  return (semver ??= require("semver") as typeof SemverModule);
}

let lockfile: typeof LockfileModule | undefined;

/**
 * `proper-lockfile`, loaded on first use: only writes take a pack's lock, and loading it (with
 * graceful-fs, which patches `fs`, retry and signal-exit) cost every read command (`pack list`,
 * `show`, `verify`) ~9 ms.
 */
export function loadLockfile(): typeof LockfileModule {
  return (lockfile ??= require("proper-lockfile") as typeof LockfileModule);
}
