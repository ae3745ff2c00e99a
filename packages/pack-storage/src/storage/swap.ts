// The two steps of an install: move the staged tree into an immutable store dir, then point the
// stable path at it. Each step is a single rename/symlink, which is what makes an install atomic.
import fs from "node:fs";
import path from "node:path";
import { kindOf, specialFileError, symlinkError } from "../checksum/fs-io";
import { AttuneError, ErrorCodes, ioError } from "../errors";
import { shortPath } from "../short-path";
import type { Layout } from "./layout";
import { ownedSuffix } from "./owner";
import { isWithin } from "../within";

/**
 * Move `stagedDir` to `.store-v1/<name>~<owner>`. On another filesystem it is copied (refusing links
 * and special files, which a pack may not hold) and the source removed once the copy is in the store,
 * so the staged tree is gone afterwards either way.
 */
export async function moveIntoStore(layout: Layout, stagedDir: string, name: string): Promise<string> {
  await assertStagedDir(stagedDir);
  await assertNotLive(layout, stagedDir);
  const storeName = `${name}~${ownedSuffix()}`;
  const dest = layout.store(storeName);
  let copied = false;
  try {
    await fs.promises.rename(stagedDir, dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EXDEV")
      throw ioError(err, stagedDir, "cannot move staged pack");
    await copyAcrossDevices(layout, stagedDir, dest);
    copied = true;
  }
  try {
    await fs.promises.chmod(dest, 0o755); // staging is private (0700); installed content is readable
  } catch (err) {
    await layout.discard(dest);
    throw ioError(err, dest, "cannot set permissions");
  }
  // best effort: the install is done; a source that cannot be removed is the caller's to delete
  if (copied) await fs.promises.rm(stagedDir, { recursive: true, force: true }).catch(() => undefined);
  return storeName;
}

async function assertStagedDir(stagedDir: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = await fs.promises.lstat(stagedDir);
  } catch (err) {
    throw ioError(err, stagedDir, "cannot read staged pack", "read");
  }
  if (st.isSymbolicLink() || !st.isDirectory()) {
    throw new AttuneError(
      st.isSymbolicLink() ? ErrorCodes.ESYMLINK : ErrorCodes.EINVALID_INPUT,
      `staged pack ${shortPath(stagedDir)} must be a real directory, not ${st.isSymbolicLink() ? "a symbolic link" : "a file"}`,
      {
        path: stagedDir,
        hint: st.isSymbolicLink()
          ? "pass the directory the link points to (or stage the pack in a directory from createStagingDir())"
          : "stage the pack's files in a directory (createStagingDir() makes one) and pass that directory",
        details: { field: "stagedDir" },
      },
    );
  }
}

// Moving an installed tree (e.g. a resolveContentDir() result) would pull it out from under its
// link; inside packsDir only our own staging area may be a source, and no source may hold packsDir.
// Real paths: packsDir (or a directory in stagedDir's path) may be reached through a symbolic link.
async function assertNotLive(layout: Layout, stagedDir: string): Promise<void> {
  const real = async (p: string) => fs.promises.realpath(p).catch(() => path.resolve(p));
  const [abs, root, staging] = await Promise.all([
    real(stagedDir),
    real(layout.root),
    real(layout.staging()),
  ]);
  const inStore = isWithin(abs, root) && !(isWithin(abs, staging) && abs !== staging);
  if (inStore || isWithin(root, abs)) {
    throw new AttuneError(
      ErrorCodes.EINVALID_INPUT,
      inStore
        ? `${shortPath(stagedDir)} is part of the pack store, not a staged pack`
        : `${shortPath(stagedDir)} holds the packs directory, it cannot be a staged pack`,
      {
        path: stagedDir,
        hint: "stage the pack in a directory from createStagingDir() or outside the packs directory",
        details: { field: "stagedDir", realPath: abs },
      },
    );
  }
}

// Staged elsewhere (another filesystem): copy into our own staging first, so the final step is
// still one rename and a crash mid-copy leaves only staging garbage.
async function copyAcrossDevices(layout: Layout, from: string, dest: string): Promise<void> {
  const tmp = layout.staging(ownedSuffix());
  try {
    await copyTree(from, tmp);
    await fs.promises.rename(tmp, dest);
  } catch (err) {
    await fs.promises.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw ioError(err, from, "cannot copy staged pack");
  }
}

/**
 * Copy a staged tree: directories and regular files (modes kept), nothing else. A link or a special
 * file is refused, naming it, as the checksum and `pack install` refuse them.
 */
async function copyTree(from: string, to: string): Promise<void> {
  const st = await fs.promises.lstat(from).catch((err: unknown) => {
    throw ioError(err, from, "cannot read staged pack", "read");
  });
  await fs.promises.mkdir(to, { mode: st.mode & 0o7777 });
  const entries = await fs.promises.readdir(from, { withFileTypes: true }).catch((err: unknown) => {
    throw ioError(err, from, "cannot read staged pack", "read");
  });
  for (const entry of entries) {
    const src = path.join(from, entry.name);
    const dst = path.join(to, entry.name);
    if (entry.isDirectory()) await copyTree(src, dst);
    else if (entry.isFile()) await fs.promises.copyFile(src, dst, fs.constants.COPYFILE_EXCL);
    else if (entry.isSymbolicLink()) throw symlinkError(src, { details: { field: "stagedDir" } });
    else throw specialFileError(src, kindOf(entry));
  }
}

/**
 * Point `finalPath` at store dir `storeName`. Without `replace`, symlink() fails with EEXIST if the
 * path exists (atomic check-and-create across processes). With `replace`, a temp link is renamed
 * over the old one (atomic); the old content dir is retired, not deleted (see retireStore).
 */
export async function swapLink(
  layout: Layout,
  finalPath: string,
  storeName: string,
  replace: boolean,
): Promise<void> {
  const target = layout.linkTarget(storeName);
  if (!replace) {
    await fs.promises.symlink(target, finalPath);
    await syncDir(layout.root);
    return;
  }
  let oldStore: string | null = null;
  const st = await fs.promises.lstat(finalPath).catch(() => null);
  if (st?.isSymbolicLink()) {
    oldStore = layout.storeNameOf(
      await fs.promises.readlink(finalPath).catch(() => ""),
      path.basename(finalPath),
    );
  } else if (st) {
    // a real directory at a versioned path (made by hand or by an older Attune) cannot be swapped
    // atomically; it is moved aside first, so readers briefly see no tree (documented in README)
    await layout.discard(finalPath);
  }
  const retiring = oldStore && oldStore !== storeName ? oldStore : null;
  // marked before the swap, so that no reconciliation between the swap and the mark takes the old
  // store dir, unlinked then, for a crashed install's leftover (a mark on a store dir still linked
  // is inert: only unlinked ones are ever removed)
  const marked = retiring !== null && (await retireStore(layout, retiring));
  const tmp = layout.staging(`link~${ownedSuffix()}`);
  await fs.promises.symlink(target, tmp);
  try {
    await fs.promises.rename(tmp, finalPath);
  } catch (err) {
    await fs.promises.unlink(tmp).catch(() => undefined);
    throw err;
  }
  await syncDir(layout.root);
  // without its mark it would be left to the owner-based cleanup: delete it now, as before
  if (retiring !== null && !marked) await layout.discard(layout.store(retiring));
}

/**
 * Readers that resolved the stable path before a replace hold the old store dir's path (an open
 * directory, a path from realpath, a lookup half done): it stays where it is, marked retired (the
 * mark's mtime is the time), and a later sweep deletes it once the grace period has passed
 * (cleanup.ts sweepRetired). False when the mark cannot be written.
 */
async function retireStore(layout: Layout, storeName: string): Promise<boolean> {
  try {
    // content, not an empty file: rewriting it always moves the mtime
    await fs.promises.writeFile(layout.retiredMarker(storeName), `${new Date().toISOString()}\n`);
    return true;
  } catch {
    return false;
  }
}

/** Persist the directory entry change (best effort: not every filesystem supports it). */
async function syncDir(dir: string): Promise<void> {
  let fh: fs.promises.FileHandle | undefined;
  try {
    fh = await fs.promises.open(dir, "r");
    await fh.sync();
  } catch {
    // durability across power loss is best effort; atomicity does not depend on it
  } finally {
    await fh?.close().catch(() => undefined);
  }
}
