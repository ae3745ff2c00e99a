/**
 * TEST-ONLY fault injection. When `ATTUNE_TEST_CRASH_AT` names one of these points, the process
 * kills itself with SIGKILL there, so tests can prove that `reconcile()` repairs a crash at that
 * exact step. It is read from `process.env` (not from the installer's `env` option), so an API
 * request or a config file can never trigger it.
 */
export type CrashPoint =
  | "after-fetch"
  | "before-journal"
  | "after-journal"
  | "after-store"
  | "after-commit"
  | "uninstall-after-commit";

export function crashPoint(point: CrashPoint): void {
  if (process.env.ATTUNE_TEST_CRASH_AT === point) process.kill(process.pid, "SIGKILL");
}
