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
