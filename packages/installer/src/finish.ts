import { AttuneError, ioError } from "@attune/pack-storage";
import type { InstallerContext } from "./context";

/** after the commit: drop the previous version's files, then the journal (reconcile redoes both) */
export async function finishAfterCommit(
  ctx: InstallerContext,
  ref: string,
  version: string,
  previousVersion: string | null,
): Promise<void> {
  try {
    if (previousVersion !== null && previousVersion !== version)
      await ctx.storage.uninstallPack(ref, previousVersion);
    await ctx.journal.remove(ref);
  } catch {
    // the install is committed; the journal stays and the next reconcile removes the old files
  }
}

/**
 * The rows are gone (the uninstall is recorded) but the files could not be removed: say so, and
 * that the journal finishes the job once the cause is mended (the next install or uninstall of any
 * pack on this store, or the next start: see before-write.ts).
 */
export function filesLeft(ref: string, err: unknown, removed?: string[]): AttuneError {
  const cause = err instanceof AttuneError ? err : ioError(err, ref, "cannot remove the files of");
  return new AttuneError(
    cause.code,
    `pack '${ref}' is uninstalled in the database, but its files could not be removed: ${cause.message}`,
    {
      cause: err,
      path: cause.path,
      hint: `${cause.hint ? `${cause.hint}; ` : ""}the next install or uninstall on this store (of any pack), or the next start, removes them once that is mended`,
      // `removed`: the versions the uninstall removed from the database (the API still answers 200)
      details: { ...cause.details, ref, filesLeft: true, ...(removed ? { removed } : {}) },
    },
  );
}
