import fs from "node:fs/promises";
import path from "node:path";
import {
  AttuneError,
  ErrorCodes,
  calculateDirectoryChecksum,
  calculateDirectoryManifest,
  diffManifest,
  STORE_DIR,
  validateRef,
  type Checksum,
} from "@attune/pack-storage";
import { refuseMissingStore } from "./before-write";
import { withRefLock, type InstallerContext } from "./context";
import { appendEventKeepingActor } from "./events";
import type { InstalledRecord } from "./record";
import { actorDetails, type Actor, type InstallationMethod, type VerifyReport } from "./types";

/** The start of a report's `error` when the pack's whole directory is gone. */
const GONE = "ENOENT: ";

/**
 * Re-hash an installed pack and compare with what was recorded at install time. Runs under the ref
 * lock so that a concurrent upgrade is never reported as tampering. Appends a `verify` event.
 */
export async function verify(
  ctx: InstallerContext,
  ref: string,
  actor?: Actor,
  method?: InstallationMethod,
): Promise<VerifyReport> {
  validateRef(ref);
  await refuseMissingStore(ctx, ref);
  return withRefLock(ctx, ref, undefined, async () => {
    const rec = await ctx.store.get(ref);
    if (!rec?.installation)
      throw new AttuneError(ErrorCodes.ENOTFOUND, `pack '${ref}' is not installed`, {
        hint: "list installed packs with `attune pack list`",
        details: { ref },
      });
    const report = await compare(ctx, rec);
    const recorded = appendEventKeepingActor(ctx, {
      packRef: ref,
      version: rec.pack.version,
      action: "verify",
      outcome: report.ok ? "success" : "failure",
      sourceType: rec.installation.sourceType,
      sourceUrl: rec.installation.sourceUrl,
      actorId: actor?.identityId ?? null,
      actorName: actor?.name ?? null,
      method: method ?? null,
      // why the tree could not be hashed (a planted link) is the finding; else what differs
      error: report.ok
        ? null
        : report.error?.startsWith(GONE)
          ? `EINTEGRITY: expected ${report.expected}, but the pack's directory is gone`
          : (report.error ?? `EINTEGRITY: expected ${report.expected}, found ${report.actual}`),
      details: {
        ...actorDetails(actor),
        expected: report.expected,
        actual: report.actual,
        changed: report.changed.length,
        added: report.added.length,
        removed: report.removed.length,
      },
    });
    // the check's result stands even when its record cannot be written (a locked database)
    await recorded.catch((err: unknown) => {
      const e = err as AttuneError;
      report.historyError = `${e.code ?? "ERROR"}: ${e.message ?? String(err)}`;
    });
    return report;
  });
}

const UNHASHABLE = new Set<string>([ErrorCodes.ESYMLINK, ErrorCodes.ESPECIAL_FILE, ErrorCodes.EBAD_FILENAME]);

/** `link` points where the store keeps content (`<packsDir>/.store-v1/<name>`), and nothing is there. */
async function danglingStoreLink(packsDir: string, link: string): Promise<boolean> {
  const target = await fs.readlink(link).catch(() => null);
  if (target === null) return false;
  const abs = path.resolve(path.dirname(link), target);
  if (path.dirname(abs) !== path.join(path.resolve(packsDir), STORE_DIR)) return false;
  return (await fs.lstat(abs).catch(() => null)) === null;
}

async function compare(ctx: InstallerContext, rec: InstalledRecord): Promise<VerifyReport> {
  const inst = rec.installation!;
  const base = {
    ref: rec.pack.ref,
    version: rec.pack.version,
    expected: inst.checksum,
    fileListAvailable: rec.hasFileManifest,
  };
  // the tree could not be hashed at all: `error` says why, and no file is named as changed
  const unhashable = (error: string): VerifyReport => ({
    ...base,
    ok: false,
    actual: null,
    changed: [],
    added: [],
    removed: [],
    error,
  });
  let dir: string;
  try {
    dir = await ctx.storage.resolveContentDir(rec.pack.ref, rec.pack.version);
  } catch (e) {
    if ((e as AttuneError).code !== ErrorCodes.ENOENT && (e as AttuneError).code !== ErrorCodes.ENOTFOUND)
      throw e;
    // something else at the pack's path (a link to another place, a file): the tree there is not
    // the store's, so it is not hashed, and it is not "gone" either
    const at = ctx.storage.getPackPath(rec.pack.ref, rec.pack.version);
    const there = await fs.lstat(at).catch(() => null);
    // the store's own link with its content directory deleted: the tree is gone, like the link
    const ownLinkDangling = there?.isSymbolicLink() && (await danglingStoreLink(ctx.storage.packsDir, at));
    if (there && !ownLinkDangling)
      return unhashable(
        `ESYMLINK: ${path.basename(at)} is not the directory the store made (${there.isSymbolicLink() ? "a symbolic link to another place" : "something else"} is in its place)`,
      );
    // the whole directory is gone: every recorded file is removed, and the error says why
    const recorded = await ctx.store.fileManifest(rec);
    return {
      ...base,
      ok: false,
      actual: null,
      changed: [],
      added: [],
      removed: Object.keys(recorded ?? {}).sort(),
      error: ownLinkDangling
        ? `${GONE}the content of ${path.basename(at)} is gone from the store (its link is left)`
        : `${GONE}${path.basename(at)} is gone from the packs directory`,
    };
  }
  const expected = inst.checksum.toLowerCase() as Checksum;
  let current;
  try {
    // The framed checksum alone settles the common case (untouched) in one pass; the per-file
    // manifest, which hashes every byte a second time, is only needed to name what differs.
    const actual = await calculateDirectoryChecksum(dir);
    if (actual === expected) return { ...base, ok: true, actual, changed: [], added: [], removed: [] };
    current = await calculateDirectoryManifest(dir);
  } catch (e) {
    // a planted symlink, device or undecodable name is tampering too, not an operational failure
    if (!UNHASHABLE.has((e as AttuneError).code)) throw e;
    const err = e as AttuneError;
    // named inside the pack ("actions/x is a symbolic link"), as an install names an entry: the
    // storage path is the server's own business (and the API would have to hide it)
    return unhashable(`${err.code}: ${err.message.split(`${dir}/`).join("")}`);
  }
  // read only now: a 20,000-entry manifest costs more to load than an untouched pack takes to hash
  const recorded = await ctx.store.fileManifest(rec);
  const diff = recorded ? diffManifest(recorded, current.files) : { changed: [], added: [], removed: [] };
  return {
    ...base,
    ok: current.checksum === expected,
    actual: current.checksum,
    changed: diff.changed,
    added: diff.added,
    removed: diff.removed,
  };
}
