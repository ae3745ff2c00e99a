// The two steps of an install: move the staged tree into an immutable store dir, then point the
// stable path at it. Each step is a single rename/symlink, which is what makes an install atomic.
import fs from "node:fs";
import path from "node:path";
import { AttuneError, ErrorCodes, ioError } from "../errors";
import type { Layout } from "./layout";
import { ownedSuffix } from "./owner";

/** Move `stagedDir` to `.store-v1/<name>~<owner>` (copying first if it is on another filesystem). */
export async function moveIntoStore(layout: Layout, stagedDir: string, name: string): Promise<string> {
  await assertStagedDir(stagedDir);
  assertNotLive(layout, stagedDir);
  const storeName = `${name}~${ownedSuffix()}`;
  const dest = layout.store(storeName);
  try {
    await fs.promises.rename(stagedDir, dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EXDEV")
      throw ioError(err, stagedDir, "cannot move staged pack");
    await copyAcrossDevices(layout, stagedDir, dest);
  }
  try {
    await fs.promises.chmod(dest, 0o755); // staging is private (0700); installed content is readable
  } catch (err) {
    await layout.discard(dest);
    throw ioError(err, dest, "cannot set permissions");
  }
  return storeName;
}

async function assertStagedDir(stagedDir: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = await fs.promises.lstat(stagedDir);
  } catch (err) {
    throw ioError(err, stagedDir, "cannot read staged pack");
  }
  if (st.isSymbolicLink() || !st.isDirectory()) {
    throw new AttuneError(
      st.isSymbolicLink() ? ErrorCodes.ESYMLINK : ErrorCodes.EINVALID_INPUT,
      `staged pack ${stagedDir} must be a real directory`,
      { path: stagedDir, details: { field: "stagedDir" } },
    );
  }
}

// Moving an installed tree (e.g. a resolveContentDir() result) would pull it out from under its
// link; inside packsDir only our own staging area may be a source.
function assertNotLive(layout: Layout, stagedDir: string): void {
  const abs = path.resolve(stagedDir);
  const within = (dir: string) => abs === dir || abs.startsWith(dir + path.sep);
  if (within(layout.root) && !(within(layout.staging()) && abs !== layout.staging())) {
    throw new AttuneError(
      ErrorCodes.EINVALID_INPUT,
      `${stagedDir} is part of the pack store, not a staged pack`,
      {
        path: stagedDir,
        hint: "stage the pack in a directory from createStagingDir() or outside the packs directory",
        details: { field: "stagedDir" },
      },
    );
  }
}

// Staged elsewhere (another filesystem): copy into our own staging first, so the final step is
// still one rename and a crash mid-copy leaves only staging garbage.
async function copyAcrossDevices(layout: Layout, from: string, dest: string): Promise<void> {
  const tmp = layout.staging(ownedSuffix());
  try {
    await fs.promises.cp(from, tmp, {
      recursive: true,
      errorOnExist: true,
      force: false,
      verbatimSymlinks: true,
    });
    await fs.promises.rename(tmp, dest);
  } catch (err) {
    await fs.promises.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw ioError(err, from, "cannot copy staged pack");
  }
}

/**
 * Point `finalPath` at store dir `storeName`. Without `replace`, symlink() fails with EEXIST if the
 * path exists (atomic check-and-create across processes). With `replace`, a temp link is renamed
 * over the old one (atomic), then the old content dir is deleted.
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
  const tmp = layout.staging(`link~${ownedSuffix()}`);
  await fs.promises.symlink(target, tmp);
  try {
    await fs.promises.rename(tmp, finalPath);
  } catch (err) {
    await fs.promises.unlink(tmp).catch(() => undefined);
    throw err;
  }
  await syncDir(layout.root);
  if (oldStore && oldStore !== storeName) await layout.discard(layout.store(oldStore));
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
