import { AttuneError, ErrorCodes, validateRef, validateVersion } from "@attune/pack-storage";
import { beforeWrite } from "./before-write";
import { withDependencyLock, withRefLock, type InstallerContext } from "./context";
import { brokenDependents, checkDependents, type Dependent } from "./dependencies";
import { crashPoint } from "./fault";
import { filesLeft } from "./finish";
import { resolvePending } from "./reconcile";
import type { EventData } from "./record";
import type { PackLock } from "./locks";
import { actorDetails, type Actor, type InstallationMethod, type UninstallResult } from "./types";

export interface UninstallOptions {
  version?: string;
  /** uninstall even when installed packs depend on this one */
  skipDeps?: boolean;
  actor: Actor;
  method?: InstallationMethod;
  signal?: AbortSignal;
}

/**
 * Without `version` (or with the recorded one): journal -> delete the rows + append the event in one
 * transaction -> remove the files -> drop the journal. Files go last so that a crash never leaves
 * a row pointing at nothing. A `version` that is on disk but not recorded only removes its files.
 */
export async function uninstall(
  ctx: InstallerContext,
  ref: string,
  opts: UninstallOptions,
): Promise<UninstallResult> {
  validateRef(ref);
  if (opts.version !== undefined) validateVersion(opts.version);
  await beforeWrite(ctx, "uninstall", ref);
  return withRefLock(ctx, ref, opts.signal, async (lock) => {
    await resolvePending(ctx, ref);
    const rec = await ctx.store.get(ref);
    const onDisk = (await ctx.storage.listInstalled()).filter((p) => p.ref === ref);
    const recorded = rec?.installation ? rec.pack.version : null;
    // an untracked version (files without a row) has no known source: not the recorded version's
    const event = (version: string | null, details: Record<string, unknown>, tracked = true): EventData => ({
      packRef: ref,
      version,
      action: "uninstall",
      outcome: "success",
      sourceType: tracked ? (rec?.installation?.sourceType ?? null) : null,
      sourceUrl: tracked ? (rec?.installation?.sourceUrl ?? null) : null,
      actorId: opts.actor.identityId,
      actorName: opts.actor.name,
      method: opts.method ?? null,
      error: null,
      details: { ...details, ...actorDetails(opts.actor) },
    });
    if (opts.version !== undefined && opts.version !== recorded) {
      if (!onDisk.some((p) => p.version === opts.version)) throw notInstalled(ref, opts.version);
      await ctx.storage.uninstallPack(ref, opts.version);
      await ctx.store.appendEvent(
        event(opts.version, { untracked: true, ...(opts.skipDeps ? { skip_deps: true } : {}) }, false),
      );
      return { ref, removed: [opts.version], recordDeleted: false, brokenDependents: [] };
    }
    if (!rec && onDisk.length === 0) throw notInstalled(ref);
    // checked and committed under the dependency lock: an install of a dependent (another ref)
    // cannot pass its own check meanwhile and commit next to this removal
    const graphMatters = recorded !== null && !opts.skipDeps;
    return withDependencyLock(ctx, graphMatters, opts.signal, async () => {
      if (graphMatters) {
        try {
          checkDependents(ref, null, await ctx.store.all());
        } catch (e) {
          // a refused uninstall is in the history too, as a refused install is
          const err = e as AttuneError;
          await ctx.store
            .appendEvent({
              ...event(recorded, { operation: "uninstall", dependents: err.details?.dependents ?? [] }),
              action: "failed",
              outcome: "failure",
              error: `${err.code}: ${err.message}`,
            })
            .catch(() => undefined);
          throw e;
        }
      }
      // what skip_deps lets go: said in the result and the history instead of discovered later
      const broken =
        opts.skipDeps && recorded !== null
          ? brokenDependents(ref, null, await ctx.store.all().catch(() => []))
          : [];
      return removeRecorded(ctx, ref, opts, lock, onDisk, recorded, event, broken);
    });
  });
}

/** journal -> delete the rows + event in one transaction -> remove the files -> drop the journal */
async function removeRecorded(
  ctx: InstallerContext,
  ref: string,
  opts: UninstallOptions,
  lock: PackLock,
  onDisk: Array<{ version: string | null }>,
  recorded: string | null,
  event: (version: string | null, details: Record<string, unknown>) => EventData,
  broken: Dependent[],
): Promise<UninstallResult> {
  // what goes: the versions on disk and the recorded one (also when its files were already gone)
  const versions = onDisk.map((p) => p.version ?? "legacy");
  if (recorded && !versions.includes(recorded)) versions.push(recorded);
  await ctx.journal.write(ref, {
    operation: "uninstall",
    version: recorded ?? versions[0],
    versions,
    actorId: opts.actor.identityId,
    actorName: opts.actor.name,
    ...(typeof opts.actor.tokenId === "number" ? { tokenId: opts.actor.tokenId } : {}),
    method: opts.method ?? null,
  });
  lock.assertHeld();
  const deleted = await ctx.store
    .deletePack(
      ref,
      event(recorded, {
        removed_versions: versions,
        ...(opts.skipDeps ? { skip_deps: true } : {}),
        ...(broken.length > 0 ? { broken_dependents: broken } : {}),
      }),
    )
    .catch(async (err: unknown) => {
      // the rows are still there (a locked or read-only database refused the commit): nothing
      // happened, so nothing is left for a later repair to "roll back"; the error says it all
      if ((await ctx.store.get(ref).catch(() => null)) !== null)
        await ctx.journal.remove(ref).catch(() => undefined);
      throw err;
    });
  crashPoint("uninstall-after-commit");
  await ctx.storage.uninstallPack(ref).catch((err: unknown) => {
    throw filesLeft(ref, err, versions);
  });
  await ctx.journal.remove(ref);
  return { ref, removed: versions, recordDeleted: deleted, brokenDependents: broken };
}

function notInstalled(ref: string, version?: string): AttuneError {
  return new AttuneError(
    ErrorCodes.ENOTFOUND,
    version ? `pack '${ref}' version ${version} is not installed` : `pack '${ref}' is not installed`,
    { hint: "list installed packs with `attune pack list`", details: { ref, version: version ?? null } },
  );
}
