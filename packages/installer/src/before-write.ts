import { AttuneError, ErrorCodes } from "@attune/pack-storage";
import type { InstallerContext } from "./context";
import { settleAttempts } from "./attempts";
import { resolvePending } from "./reconcile";
import type { CleanupReport } from "./types";

/**
 * What every install and uninstall does first: refuse to write when the packs directory is no
 * longer the store this installer opened, then settle what earlier operations on other refs left
 * behind (best effort: an old leftover never fails the write at hand).
 */
export async function beforeWrite(
  ctx: InstallerContext,
  operation: "install" | "uninstall",
  ref: string | null,
): Promise<void> {
  await refuseLostStore(ctx, operation, ref);
  const report = await settleLeftovers(ctx, ref);
  if (
    report.interrupted.length + report.failed.length + report.trashRemoved.length + report.unnamed.length ===
    0
  )
    return;
  try {
    ctx.onCleanup?.(report);
  } catch {
    // the caller's logging must not break the write
  }
}

/**
 * A packs directory emptied, removed or replaced under the running process has lost the installed
 * packs' files; writing now would start a new, empty store next to a database that records them
 * (and readiness would look fine again). Refused, as `openInstaller` refuses a missing packs
 * directory while packs are recorded: ECONFIG with `details.storeLost`, naming the directory and
 * the way on. Any failure of `checkIntact()` is refused so (one that cannot even look at the
 * store is no less a store this process cannot vouch for).
 */
async function refuseLostStore(
  ctx: InstallerContext,
  operation: "install" | "uninstall" | "verify",
  ref: string | null,
  only?: ReadonlySet<string>,
): Promise<void> {
  try {
    await ctx.storage.checkIntact();
  } catch (e) {
    const err = e as AttuneError;
    if (only && !only.has(String(err?.details?.reason))) return;
    const installed = await ctx.store.all().then(
      (all) => all.filter((r) => r.installation !== null).length,
      () => null,
    );
    const recorded =
      installed === null
        ? ""
        : `; the database records ${installed} installed pack${installed === 1 ? "" : "s"}`;
    const reason = typeof err?.details?.reason === "string" ? err.details.reason : "unreadable";
    throw new AttuneError(
      ErrorCodes.ECONFIG,
      `refusing to ${operation}${ref ? ` '${ref}'` : ""}: ${err?.message ?? String(e)}${recorded}`,
      {
        cause: e,
        path: ctx.storage.packsDir,
        hint: lostStoreHint(ctx.storage.packsDir, reason, err?.hint),
        details: { storeLost: true, reason, installed, cause: err?.code ?? "ERROR" },
      },
    );
  }
}

/**
 * What a verify does first: refuse when the packs directory itself is gone (or is not a directory).
 * Its ref lock lives inside that directory and must not create it anew: a new, empty directory in
 * its place would hide the loss (a restore from a backup would then land inside it). A store that
 * was emptied or replaced is verified as it is: reporting the packs whose files are missing is what
 * verify is for.
 */
export function refuseMissingStore(ctx: InstallerContext, ref: string): Promise<void> {
  return refuseLostStore(ctx, "verify", ref, MISSING);
}

const MISSING: ReadonlySet<string> = new Set(["gone", "not_directory"]);

const VERIFY = "`attune pack verify --all` lists the packs whose files are missing";

/** The way on for each reason `checkIntact()` gives. */
function lostStoreHint(dir: string, reason: string, storageHint: string | undefined): string {
  switch (reason) {
    case "gone":
    case "not_directory":
      // a restart would not help: openInstaller refuses a missing packs directory while packs are recorded
      return `restore the packs directory ${dir} from a backup (or create it anew, empty, and reinstall the packs) before restarting this process: a restart is refused too while it is missing and the database records installed packs`;
    case "no_id":
      return `restart this process to adopt the store in ${dir} (a backup taken before store ids were introduced has none): start-up reconciliation then takes it as it is, and ${VERIFY}`;
    case "unreadable":
      return (
        storageHint ?? `make the packs directory ${dir} readable to this user, or restore it from a backup`
      );
    default: // emptied, replaced
      return `restore the packs directory ${dir} from a backup, or restart this process: start-up reconciliation then takes the directory as it is, and ${VERIFY}`;
  }
}

/**
 * Settle the journal entries other refs left pending (an uninstall whose files could not be
 * removed, an operation a crash cut short) exactly as reconcile does, each under its own lock,
 * taken without waiting: a ref whose lock is held belongs to a live operation (in this process or
 * another), which settles it itself. Then empty the trash of earlier deletions that failed. Never
 * throws: what cannot be settled now stays for the next write or the next start, and is reported.
 */
export async function settleLeftovers(ctx: InstallerContext, skip: string | null): Promise<CleanupReport> {
  const report: CleanupReport = { interrupted: [], failed: [], trashRemoved: [], unnamed: [] };
  // before the journal entries: an attempt whose intent was journaled is left to their resolution
  const attempts = await settleAttempts(ctx);
  report.interrupted.push(...attempts.interrupted);
  report.unnamed.push(...attempts.unnamed);
  const failed = (ref: string | null, e: unknown) => {
    const err = e as AttuneError;
    report.failed.push({ ref, code: String(err?.code ?? "ERROR"), message: err?.message ?? String(e) });
  };
  let refs: string[] = [];
  try {
    refs = await ctx.journal.refs();
  } catch (e) {
    failed(null, e);
  }
  for (const ref of refs) {
    if (ref === skip) continue; // settled under its own lock by the operation at hand
    let lock;
    try {
      lock = await ctx.locker.acquire(ref, { timeoutMs: 0 });
    } catch (e) {
      if ((e as AttuneError).code !== ErrorCodes.ELOCKED) failed(ref, e);
      continue;
    }
    try {
      const done = await resolvePending(ctx, ref);
      if (done) report.interrupted.push(done);
    } catch (e) {
      failed(ref, e); // its journal entry stays: the next write or start tries again
    } finally {
      // PostgresLocker's release runs pg_advisory_unlock, which can fail (a dropped connection)
      await lock.release().catch((e: unknown) => failed(ref, e));
    }
  }
  try {
    const trash = await ctx.storage.emptyTrash();
    report.trashRemoved = trash.removed;
    if (trash.kept.length > 0)
      failed(
        null,
        new AttuneError(
          ErrorCodes.EIO,
          `cannot delete ${trash.kept.length} entr${trash.kept.length === 1 ? "y" : "ies"} in the trash or staging area of the packs directory`,
          { details: { paths: trash.kept } },
        ),
      );
  } catch (e) {
    failed(null, e);
  }
  return report;
}
