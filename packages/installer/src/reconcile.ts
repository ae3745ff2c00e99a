import { calculateDirectoryManifest, ErrorCodes, type AttuneError } from "@attune/pack-storage";
import type { InstallerContext } from "./context";
import { filesLeft, finishAfterCommit } from "./finish";
import { settleAttempts } from "./attempts";
import { appendEventKeepingActor } from "./events";
import { attemptDetails, type InstallIntent, type UninstallIntent } from "./journal";
import type { ReconcileReport } from "./types";

type Resolution = ReconcileReport["interrupted"][number];

/**
 * Finish or undo an operation on `ref` that died midway (its journal entry is still there).
 * Call with the ref lock held. Returns what was done, or null when nothing was pending.
 */
export async function resolvePending(ctx: InstallerContext, ref: string): Promise<Resolution | null> {
  await ctx.journal.removeTemp(ref);
  const intent = await ctx.journal.read(ref);
  if (!intent) return null;
  const resolution =
    intent.operation === "install" ? await resolveInstall(ctx, intent) : await resolveUninstall(ctx, intent);
  await ctx.journal.remove(ref);
  return resolution;
}

async function resolveInstall(ctx: InstallerContext, intent: InstallIntent): Promise<Resolution> {
  const { ref, version, record } = intent;
  const base = { ref, version, operation: "install" as const };
  const rec = await ctx.store.get(ref);
  if (rec?.installation?.meta?.operation_id === record.operationId) {
    // committed; only the clean-up after the commit was lost
    await finishAfterCommit(ctx, ref, version, intent.previousVersion);
    return { ...base, resolution: "completed" };
  }
  const stored = await storedManifest(ctx, ref, version);
  // a forced reinstall killed before its move finds the installed version's own files there
  const recordedHere = rec?.installation && rec.pack.version === version;
  const untouched = stored !== null && recordedHere && stored.checksum === rec.installation?.checksum;
  // The recorded version's own place holding files of neither checksum: they were changed outside
  // attune, before the kill (the move never came) or since it; which cannot be told, so it is not
  // blamed on the install, and the files are kept as they are (verify reports what changed).
  let why = untouched
    ? "nothing was stored (the installed files are still those recorded)"
    : stored && recordedHere
      ? `the installed files of ${ref} ${version} match neither the recorded checksum nor the new one (changed outside attune); they were kept as they are: run \`attune pack verify ${ref}\``
      : stored
        ? "the stored files differ from the verified ones"
        : "nothing was stored";
  if (stored && stored.checksum === intent.checksum) {
    // every check passed before the move and the files are still exactly what was verified: roll forward
    try {
      const details = { ...record.event.details, resolution: "adopted", ...attemptDetails(intent) };
      await ctx.store.commitInstall(
        { ...record, event: { ...record.event, outcome: "interrupted", details } },
        stored.files,
      );
      await finishAfterCommit(ctx, ref, version, intent.previousVersion);
      return { ...base, resolution: "adopted" };
    } catch (e) {
      // e.g. the installing identity was deleted meanwhile: undo rather than retry forever
      why = `the rows could not be written (${(e as AttuneError).code ?? "ERROR"})`;
    }
  }
  // undo the move unless those files are the recorded version's own
  if (stored && !recordedHere) await ctx.storage.uninstallPack(ref, version);
  await appendEventKeepingActor(ctx, {
    ...record.event,
    outcome: "interrupted",
    // with a code like every failed event's error, for tables that show only the code
    error: `EINTERRUPTED: interrupted before the database commit; rolled back: ${why}`,
    details: { ...record.event.details, resolution: "rolled_back", ...attemptDetails(intent) },
  });
  return { ...base, resolution: "rolled_back", detail: why };
}

async function storedManifest(ctx: InstallerContext, ref: string, version: string) {
  if (!(await ctx.storage.isInstalled(ref, version))) return null;
  try {
    return await calculateDirectoryManifest(await ctx.storage.resolveContentDir(ref, version));
  } catch (e) {
    const code = (e as AttuneError).code;
    if (code === ErrorCodes.ESYMLINK || code === ErrorCodes.ESPECIAL_FILE || code === ErrorCodes.ENOENT)
      return null;
    throw e;
  }
}

async function resolveUninstall(ctx: InstallerContext, intent: UninstallIntent): Promise<Resolution> {
  const base = { ref: intent.ref, version: intent.version, operation: "uninstall" as const };
  const rec = await ctx.store.get(intent.ref);
  if (!rec) {
    // rows are gone: the commit happened, finish removing the files
    await ctx.storage.uninstallPack(intent.ref).catch((err: unknown) => {
      throw filesLeft(intent.ref, err);
    });
    return { ...base, resolution: "completed" };
  }
  await appendEventKeepingActor(ctx, {
    packRef: intent.ref,
    version: intent.version,
    action: "uninstall",
    outcome: "interrupted",
    sourceType: rec.installation?.sourceType ?? null,
    sourceUrl: rec.installation?.sourceUrl ?? null,
    actorId: intent.actorId,
    actorName: intent.actorName,
    method: intent.method,
    error: "EINTERRUPTED: interrupted before the database commit; nothing was removed",
    details: {
      resolution: "rolled_back",
      ...(intent.tokenId !== undefined ? { token_id: intent.tokenId } : {}),
      ...attemptDetails(intent),
    },
  });
  return { ...base, resolution: "rolled_back" };
}

/**
 * On start: resolve journal entries, then flag rows without files and files without rows.
 * Refs that look consistent are not locked; the others are re-checked under their lock so that a
 * live install in another process is never mistaken for a crash (it shows up as `busy`).
 */
export async function reconcile(ctx: InstallerContext): Promise<ReconcileReport> {
  const report: ReconcileReport = {
    interrupted: [],
    missingFiles: [],
    untracked: [],
    busy: [],
    failed: [],
    unnamed: [],
  };
  // locks whose holders were killed (an uninstall's dependency lock, say): removed, not left for
  // the next operation to find
  await ctx.locker.sweepDead?.();
  // before the journal: an attempt whose intent was journaled is left to the journal's resolution
  const attempts = await settleAttempts(ctx);
  report.interrupted.push(...attempts.interrupted);
  report.unnamed.push(...attempts.unnamed);
  const suspects = await findSuspects(ctx);
  // a dead holder's file lock turns stale after lockStaleMs; a PostgreSQL lock dies with its session
  const timeoutMs = ctx.locker.kind === "file" ? ctx.settings.lockStaleMs + 2_000 : 2_000;
  for (const ref of suspects) {
    let lock;
    try {
      lock = await ctx.locker.acquire(ref, { timeoutMs });
    } catch (e) {
      if ((e as AttuneError).code === ErrorCodes.ELOCKED) {
        report.busy.push(ref);
        continue;
      }
      // the lock cannot even be made (a read-only or full packs filesystem): this ref waits, the
      // others go on, and the command at hand reports the cause if it needs this ref
      const err = e as AttuneError;
      report.failed.push({ ref, code: String(err.code ?? "ERROR"), message: err.message ?? String(e) });
      continue;
    }
    try {
      const done = await resolvePending(ctx, ref);
      if (done) report.interrupted.push(done);
      await inspect(ctx, ref, report);
    } catch (e) {
      // one broken ref must not make the installer unusable for every other pack
      const err = e as AttuneError;
      report.failed.push({ ref, code: String(err.code ?? "ERROR"), message: err.message ?? String(e) });
    } finally {
      await lock.release();
    }
  }
  return report;
}

async function findSuspects(ctx: InstallerContext): Promise<string[]> {
  const suspects = new Set(await ctx.journal.refs());
  const records = new Map((await ctx.store.all()).map((r) => [r.pack.ref, r]));
  const onDisk = await ctx.storage.listInstalled();
  for (const d of onDisk) {
    const r = records.get(d.ref);
    // a legacy unversioned directory next to its recorded row is fine; anything else unexplained is suspect
    if (!r?.installation || (d.version !== null && r.pack.version !== d.version)) suspects.add(d.ref);
  }
  for (const [ref, r] of records) {
    const v = r.pack.version;
    if (!onDisk.some((d) => d.ref === ref && (d.version === v || d.version === null))) suspects.add(ref);
  }
  return [...suspects].sort();
}

async function inspect(ctx: InstallerContext, ref: string, report: ReconcileReport): Promise<void> {
  const rec = await ctx.store.get(ref);
  const dirs = (await ctx.storage.listInstalled()).filter((d) => d.ref === ref);
  const recorded = rec?.installation ? rec.pack.version : null;
  if (rec?.installation && !dirs.some((d) => d.version === recorded || d.version === null))
    report.missingFiles.push({ ref, version: rec.pack.version, storagePath: rec.installation.storagePath });
  for (const d of dirs)
    if (d.version !== recorded && !(d.version === null && recorded !== null))
      report.untracked.push({ ref, version: d.version, path: d.path });
}
