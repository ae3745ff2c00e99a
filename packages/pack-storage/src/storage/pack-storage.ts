import fs from "node:fs";
import path from "node:path";
import { AttuneError, ErrorCodes, ioError } from "../errors";
import { requirePathArg } from "../input";
import { cleanLeftovers, cleanStaging, cleanTrash, sweepRetired } from "./cleanup";
import { Layout, STORE_DIR, type StoreIdentity } from "./layout";
import { ownedSuffix } from "./owner";
import { parseEntryName, validateRef, validateVersion } from "./validate";
import { moveIntoStore, swapLink } from "./swap";

export interface InstalledPack {
  ref: string;
  /** null for a legacy unversioned install `<packsDir>/<ref>/` */
  version: string | null;
  /** the stable path (`<packsDir>/<ref>-<version>`), what to record and show */
  path: string;
}

export interface PackStorageOptions {
  packsDir: string;
  /**
   * How long a store dir replaced by `installPack(..., { replace: true })` stays where readers that
   * resolved the stable path before the swap find it; default RETIRED_GRACE_MS. 0 (tests) lets the
   * next sweep delete it.
   */
  retiredGraceMs?: number;
}

/** Default grace period of a replaced store dir: readers that resolved the old link keep it this long. */
export const RETIRED_GRACE_MS = 60_000;

/**
 * Versioned pack storage: immutable content directories plus an atomic symlink swap, so readers of
 * `<packsDir>/<ref>-<version>` always see a whole tree (see README "Storage design").
 */
export class PackStorage {
  readonly packsDir: string;
  /** see PackStorageOptions.retiredGraceMs */
  readonly retiredGraceMs: number;
  private readonly layout: Layout;
  /** the store `init()` opened; null before (a storage never initialised checks only that a store is there) */
  private opened: StoreIdentity | null = null;

  constructor(opts: PackStorageOptions) {
    this.packsDir = path.resolve(requirePathArg(opts?.packsDir, "packsDir"));
    this.retiredGraceMs = graceOption(opts.retiredGraceMs);
    this.layout = new Layout(this.packsDir);
  }

  /**
   * Create the layout, remove what crashed processes left behind (staging, trash, unlinked store
   * dirs) and store dirs replaced longer ago than the grace period, and remember which store this is (its id, given one if it has none), so that
   * `checkIntact()` can tell this store from one made anew in its place.
   */
  async init(): Promise<void> {
    await this.layout.ensure();
    await cleanLeftovers(this.layout, this.retiredGraceMs);
    this.opened = await this.layout.identify();
  }

  /**
   * Whether the packs directory is still this store (for readiness probes, and before every write):
   * a directory holding the store of content directories, and after `init()` the very store it
   * opened. Every failure carries `details.storeLost` and `details.reason`:
   * - `gone`: ENOENT, the packs directory is not there;
   * - `not_directory`: EIO, it is something else;
   * - `unreadable`: EIO, it or its store directory cannot be looked at (permissions, a symlink loop);
   * - `emptied`: EIO, the store directory is missing or not a directory (the installed packs' files
   *   went with it);
   * - `no_id`: EIO, the store there has no id and is not the store directory opened, while the store
   *   opened had one: a backup from an older version restored? A restart adopts it;
   * - `replaced`: EIO, the store there is another one than `init()` opened (emptied, then a new store
   *   made there, say by a process of an older version: a new store is empty).
   *
   * A store is the one opened when its id (`.store-v1/.store-id`) is the same (a store restored
   * from a backup, the whole packs directory, keeps its id: the same store again), or when its
   * store directory is the very same one (device, inode and birth time: a store of an older
   * version whose id could not be written, one whose id cannot be read, or whose id an older
   * version removed and a newer one wrote anew). Where the birth time is unavailable, device and
   * inode, unless both ids are known and differ. A store directory made anew has another id and
   * another birth time (or inode).
   */
  async checkIntact(): Promise<void> {
    const dir = this.packsDir;
    let st: fs.Stats;
    try {
      st = await fs.promises.stat(dir);
    } catch (e) {
      const err = ioError(e, dir, "cannot read the packs directory");
      if (err.code === ErrorCodes.ENOENT)
        throw storeLost(err.code, err.message, dir, "gone", RESTORE_HINT, e);
      throw storeLost(err.code, err.message, dir, "unreadable", err.hint ?? UNREADABLE_HINT, e);
    }
    if (!st.isDirectory())
      throw storeLost(
        ErrorCodes.EIO,
        `the packs directory ${dir} is not a directory`,
        dir,
        "not_directory",
        RESTORE_HINT,
      );
    const store = this.layout.store();
    let inner: fs.Stats | null;
    try {
      inner = await fs.promises.stat(store);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") {
        const err = ioError(e, store, "cannot read the store");
        throw storeLost(err.code, err.message, dir, "unreadable", err.hint ?? UNREADABLE_HINT, e);
      }
      inner = null;
    }
    if (!inner?.isDirectory())
      throw storeLost(
        ErrorCodes.EIO,
        `the packs directory ${dir} has lost its store (${STORE_DIR}): it was emptied or replaced`,
        dir,
        "emptied",
        LOST_HINT,
      );
    if (!this.opened) return;
    const opened = this.opened;
    const current = await this.layout.readStoreId();
    if (opened.id !== null && current.id === opened.id) return;
    // Without a birth time, device and inode alone could be a store directory made anew on the
    // old one's inode: then two ids that differ say it is another store.
    const sameDir =
      inner.dev === opened.dev &&
      inner.ino === opened.ino &&
      (opened.birthtimeMs !== null
        ? inner.birthtimeMs === opened.birthtimeMs
        : opened.id === null || current.id === null);
    if (sameDir) return;
    if (opened.id !== null && current.id === null && current.readable)
      throw storeLost(
        ErrorCodes.EIO,
        `the store (${STORE_DIR}) in the packs directory ${dir} has no id, and is not the store directory this process opened: a backup from an older version?`,
        dir,
        "no_id",
        NO_ID_HINT,
      );
    throw storeLost(
      ErrorCodes.EIO,
      `the packs directory ${dir} holds another store (${STORE_DIR}) than the one this process opened: it was emptied or replaced`,
      dir,
      "replaced",
      LOST_HINT,
    );
  }

  /**
   * Before a write: once `init()` has opened a store, refuse to write into another (or none: the
   * layout would be made anew, an empty store next to records of packs it does not hold).
   */
  private async ensureLayout(): Promise<void> {
    if (this.opened) await this.checkIntact();
    await this.layout.ensure();
  }

  /**
   * Delete what is left in the trash: entries of dead processes, and this process's own whose
   * deletion failed earlier (say, a file that could not be removed then); never what a live
   * process is deleting now. Also deletes the staging dirs of dead processes (a CLI run killed
   * mid-install, whose leftovers a long-running server would otherwise keep until its restart),
   * never a live process's. Best effort: returns what was removed and what could not be deleted
   * (trash and staging entries). Also deletes the store dirs replaced longer ago than the grace
   * period (not listed).
   */
  async emptyTrash(): Promise<{ removed: string[]; kept: string[] }> {
    await this.sweepRetired();
    const staging = await cleanStaging(this.layout);
    const trash = await cleanTrash(this.layout, { own: true });
    return { removed: [...staging.removed, ...trash.removed], kept: [...staging.kept, ...trash.kept] };
  }

  /** Best effort, after a write: delete the store dirs whose grace period has passed. */
  private async sweepRetired(): Promise<void> {
    await sweepRetired(this.layout, this.retiredGraceMs).catch(() => undefined);
  }

  /** A private (0700) directory under packsDir, on the same filesystem, to stage a pack in. */
  async createStagingDir(): Promise<string> {
    await this.ensureLayout();
    const dir = this.layout.staging(ownedSuffix());
    try {
      await fs.promises.mkdir(dir, { mode: 0o700 });
      await fs.promises.chmod(dir, 0o700);
    } catch (err) {
      throw ioError(err, dir, "cannot create staging directory");
    }
    return dir;
  }

  /** `<packsDir>/<ref>-<version>`, or the legacy `<packsDir>/<ref>` without a version. Validates first. */
  getPackPath(ref: string, version?: string): string {
    return this.layout.entry(entryName(ref, version));
  }

  /**
   * Move a staged tree into place atomically and return the stable path. ECONFLICT when that
   * ref+version exists and `replace` is not set (also when another process wins a race).
   */
  async installPack(
    stagedDir: string,
    ref: string,
    version: string,
    opts: { replace?: boolean } = {},
  ): Promise<string> {
    requirePathArg(stagedDir, "stagedDir");
    const name = entryName(ref, validateVersion(version));
    const finalPath = this.layout.entry(name);
    await this.ensureLayout();
    if (!opts.replace && (await lstatOrNull(finalPath))) throw conflict(ref, version, finalPath);
    const storeName = await moveIntoStore(this.layout, stagedDir, name);
    try {
      await swapLink(this.layout, finalPath, storeName, !!opts.replace);
    } catch (err) {
      await this.layout.discard(this.layout.store(storeName));
      if ((err as NodeJS.ErrnoException).code === "EEXIST") throw conflict(ref, version, finalPath);
      throw ioError(err, finalPath, "cannot install");
    }
    await this.sweepRetired();
    return finalPath;
  }

  /** Remove one version, or (no version) every version of the ref plus a legacy install. */
  async uninstallPack(ref: string, version?: string): Promise<boolean> {
    validateRef(ref);
    // without a version, broken installs (dangling links) of the ref go too, not only listed ones
    const names =
      version !== undefined
        ? [entryName(ref, version)]
        : (await this.entryNames()).filter((n) => parseEntryName(n)?.ref === ref);
    let removed = false;
    for (const name of names) removed = (await this.removeEntry(name)) || removed;
    await this.sweepRetired();
    return removed;
  }

  /** Whether ref+version (or, without a version, any version or a legacy install) is present. */
  async isInstalled(ref: string, version?: string): Promise<boolean> {
    if (version !== undefined) return (await this.contentDirOf(entryName(ref, version))) !== null;
    validateRef(ref);
    return (await this.listInstalled()).some((p) => p.ref === ref);
  }

  /** Installed packs, sorted by ref then version; never staging, trash or store internals. */
  async listInstalled(): Promise<InstalledPack[]> {
    const out: InstalledPack[] = [];
    for (const name of await this.entryNames()) {
      const parsed = parseEntryName(name);
      if (parsed && (await this.contentDirOf(name))) out.push({ ...parsed, path: this.layout.entry(name) });
    }
    return out;
  }

  /** Names in packsDir that could be installs (internal entries all start with "."), sorted. */
  private async entryNames(): Promise<string[]> {
    try {
      return (await fs.promises.readdir(this.packsDir)).filter((n) => !n.startsWith(".")).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw ioError(err, this.packsDir, "cannot list");
    }
  }

  /** The real directory holding the files (follows this storage's own link); ENOTFOUND if absent. */
  async resolveContentDir(ref: string, version?: string): Promise<string> {
    const name = entryName(ref, version);
    const dir = await this.contentDirOf(name);
    if (!dir) {
      throw new AttuneError(
        ErrorCodes.ENOTFOUND,
        `pack ${version ? `${ref}@${version}` : ref} is not installed`,
        {
          path: this.layout.entry(name),
          hint: "list installed packs with `attune pack list`",
        },
      );
    }
    return dir;
  }

  private async contentDirOf(name: string): Promise<string | null> {
    const abs = this.layout.entry(name);
    const st = await lstatOrNull(abs);
    if (!st) return null;
    if (st.isDirectory()) return abs;
    if (!st.isSymbolicLink()) return null;
    const storeName = this.layout.storeNameOf(await fs.promises.readlink(abs).catch(() => ""), name);
    if (!storeName) return null; // a link we did not make (or made for another version): not an install
    const target = this.layout.store(storeName);
    const tst = await lstatOrNull(target);
    return tst?.isDirectory() ? target : null;
  }

  private async removeEntry(name: string): Promise<boolean> {
    const abs = this.layout.entry(name);
    const st = await lstatOrNull(abs);
    if (!st) return false;
    if (st.isSymbolicLink()) {
      // only this entry's own store dir goes with it; a stray link's target belongs to another version
      const storeName = this.layout.storeNameOf(await fs.promises.readlink(abs).catch(() => ""), name);
      // The content goes first, in one rename into the trash (the install disappears atomically
      // there): should that fail, nothing changed and a retry (the journal's) finds the install
      // whole, instead of a store dir no link names any more. The link, dangling now, goes next;
      // if that fails, a later uninstall of the ref removes it (dangling links count as installs).
      if (storeName) await this.layout.discard(this.layout.store(storeName));
      try {
        await fs.promises.unlink(abs);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return storeName !== null;
        throw ioError(err, abs, "cannot uninstall");
      }
      return true;
    }
    await this.layout.discard(abs);
    return true;
  }
}

function graceOption(value: unknown): number {
  if (value === undefined) return RETIRED_GRACE_MS;
  if (typeof value === "number" && Number.isFinite(value) && value >= 0) return value;
  throw new AttuneError(
    ErrorCodes.EINVALID_INPUT,
    `retiredGraceMs must be a number of milliseconds >= 0, got ${String(value)}`,
    {
      hint: `leave it out for the default (${RETIRED_GRACE_MS} ms)`,
      details: { field: "retiredGraceMs" },
    },
  );
}

function entryName(ref: string, version?: string): string {
  validateRef(ref);
  return version === undefined ? ref : `${ref}-${validateVersion(version)}`;
}

const RESTORE_HINT = "restore the packs directory (or point packs_dir at it) and restart this process";
const LOST_HINT =
  "restore the whole packs directory from a backup and run `attune pack verify --all`, or reinstall the packs";
const NO_ID_HINT =
  "restart this process to adopt it (a backup taken before store ids were introduced has none); if it is not a backup of this store, restore the right one";
const UNREADABLE_HINT =
  "make the packs directory and its store directory (.store-v1) directories this user can read (check permissions and symlinks), or restore them from a backup";

/** Why the packs directory is not (or no longer) the store opened; see `checkIntact()`. */
export type StoreLostReason = "gone" | "not_directory" | "unreadable" | "emptied" | "no_id" | "replaced";

/** The packs directory is not (or no longer) the store: gone, not a directory, emptied or replaced. */
function storeLost(
  code: string,
  message: string,
  dir: string,
  reason: StoreLostReason,
  hint: string,
  cause?: unknown,
): AttuneError {
  return new AttuneError(code, message, { path: dir, cause, hint, details: { storeLost: true, reason } });
}

function conflict(ref: string, version: string, finalPath: string): AttuneError {
  return new AttuneError(ErrorCodes.ECONFLICT, `pack ${ref}@${version} is already installed`, {
    path: finalPath,
    hint: "pass --force to replace it",
    details: { ref, version },
  });
}

async function lstatOrNull(p: string): Promise<fs.Stats | null> {
  try {
    return await fs.promises.lstat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw ioError(err, p, "cannot inspect");
  }
}
