// The on-disk layout of a packs directory, defined in one place (the format version is in the name):
//
//   <packsDir>/<ref>-<version>  -> .store-v1/<ref>-<version>~<owner>   symlink swapped atomically
//   <packsDir>/<ref>/                                                 legacy unversioned install (read-only support)
//   <packsDir>/.store-v1/<ref>-<version>~<owner>/                      immutable content directories
//   <packsDir>/.store-v1/.store-id                                     the store's random id (written once)
//   <packsDir>/.store-v1/.retired~<ref>-<version>~<owner>              a replaced store dir's retirement (mtime)
//   <packsDir>/.staging/<owner>/  and  .staging/link~<owner>           private (0700) staging dirs, temp links
//   <packsDir>/.trash/<...>~<owner>                                    entries being deleted
//
// Every internal name starts with "." so it can never be a ref (refs start with a-z).
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { AttuneError, ErrorCodes, ioError } from "../errors";
import { makeDirsSync } from "../make-dirs";
import { ownedSuffix } from "./owner";
import { MAX_REF, MAX_VERSION } from "./validate";

export const STORE_DIR = ".store-v1";
export const STAGING_DIR = ".staging";
export const TRASH_DIR = ".trash";
/** Inside the store dir: its random id, so a store made anew in the same place is told from this one. */
export const STORE_ID_FILE = ".store-id";
/** Inside the store dir: `<prefix><store dir name>`, written when a replace unlinks that store dir. */
export const RETIRED_PREFIX = ".retired~";

/**
 * The longest path the store puts between the packs directory and a pack's own files: an entry
 * being deleted, `.trash/<ref>-<version>~<owner>~<owner>/` (a ref of 64 characters, a version of
 * 128, two owner suffixes `<pid>@<host>~<random>` of at most 30 each); the store's own
 * `.store-v1/<ref>-<version>~<owner>/` and staging paths are shorter.
 */
const LONGEST_STORE_PREFIX = `/${TRASH_DIR}/`.length + MAX_REF + 1 + MAX_VERSION + 2 * 30 + 1;
/** PATH_MAX on Linux, the terminating NUL included. */
const PATH_MAX = 4096;

/**
 * How many bytes a pack's relative paths may have so that each of its files can be opened, hashed
 * and removed wherever the store puts it under `packsDir` (PATH_MAX less the packs directory's own
 * path and the store's longest prefix). Sources check every path against this while they extract
 * or copy: a longer one would install, and then fail verify (ENAMETOOLONG) and never leave the trash.
 */
export function packPathBudget(packsDir: string): number {
  return PATH_MAX - 1 - Buffer.byteLength(path.resolve(packsDir)) - LONGEST_STORE_PREFIX;
}

/**
 * Which store a process opened: the id in `.store-v1/.store-id` (null when none could be read or
 * written, say a read-only store of an older version, or an id file this user may not read) and
 * the store directory's device, inode and birth time: the directory itself, made anew or not.
 * The birth time is null where it is unavailable: 0, or equal to the change time when the store
 * was opened (without statx, libuv reports the change time as the birth time, and that moves with
 * every install); the directory is then known by its device and inode alone.
 */
export interface StoreIdentity {
  id: string | null;
  dev: number;
  ino: number;
  birthtimeMs: number | null;
}

/**
 * The store id as read: `id` null when the store has none (made by an older version, or an empty
 * file: `readable` true) or when the file is there but cannot be read (a directory, a file this
 * user may not read: `readable` false). Either way the store is then known by its directory alone.
 */
export interface StoreIdRead {
  id: string | null;
  readable: boolean;
}

/** Trash entries this process is deleting right now (absolute paths), whatever Layout moved them. */
const discarding = new Set<string>();

export class Layout {
  constructor(readonly root: string) {}

  entry(name: string): string {
    return path.join(this.root, name);
  }
  store(name = ""): string {
    return path.join(this.root, STORE_DIR, name);
  }
  staging(name = ""): string {
    return path.join(this.root, STAGING_DIR, name);
  }
  trash(name = ""): string {
    return path.join(this.root, TRASH_DIR, name);
  }
  /** The marker saying store dir `storeName` was replaced (its mtime is when). */
  retiredMarker(storeName: string): string {
    return this.store(`${RETIRED_PREFIX}${storeName}`);
  }
  /** The link target written into `<packsDir>/<name>` for a store dir: relative, so packsDir can move. */
  linkTarget(storeName: string): string {
    return `${STORE_DIR}/${storeName}`;
  }
  /**
   * The store dir a link target names, or null when the link is not one of ours. With `entry`,
   * only that entry's own store dirs (`<entry>~<owner>`) count: a link copied to another version's
   * name (`cp -a`) must not make that version's files look like, or be removed as, this one's.
   */
  storeNameOf(target: string, entry?: string): string | null {
    const prefix = `${STORE_DIR}/`;
    if (!target.startsWith(prefix)) return null;
    const name = target.slice(prefix.length);
    if (name.length === 0 || name.includes("/") || name.startsWith(".")) return null;
    return entry === undefined || name.startsWith(`${entry}~`) ? name : null;
  }

  /** The store id; never throws (see StoreIdRead). */
  async readStoreId(): Promise<StoreIdRead> {
    try {
      const id = (await fs.promises.readFile(this.store(STORE_ID_FILE), "utf8")).trim();
      return { id: id === "" ? null : id, readable: true };
    } catch (err) {
      return { id: null, readable: (err as NodeJS.ErrnoException).code === "ENOENT" };
    }
  }

  /**
   * The identity of the store as it is now; a store without an id is given one (written into a
   * staging file, then linked into place: `link(2)` never replaces, so processes opening one store
   * at once all end up with the first id). Best effort: an id that cannot be written (or read)
   * leaves it null, and the store is then known by its directory alone (device, inode, birth time).
   * The directory is looked at after the id is written, so that a new store's birth time is told
   * from its change time (see StoreIdentity).
   */
  async identify(): Promise<StoreIdentity> {
    const read = await this.readStoreId();
    const id = read.id ?? (read.readable ? await this.writeStoreId().catch(() => null) : null);
    const st = await fs.promises.stat(this.store()).catch((err: unknown) => {
      throw ioError(err, this.store(), "cannot read the store");
    });
    const birthtimeMs = st.birthtimeMs === 0 || st.birthtimeMs === st.ctimeMs ? null : st.birthtimeMs;
    return { id, dev: st.dev, ino: st.ino, birthtimeMs };
  }

  private async writeStoreId(): Promise<string | null> {
    const tmp = this.staging(`id~${ownedSuffix()}`);
    try {
      const fh = await fs.promises.open(tmp, "wx", 0o644);
      try {
        await fh.chmod(0o644); // the mode open() gives is cut by the umask (077 would hide the id)
        await fh.writeFile(`${crypto.randomBytes(16).toString("hex")}\n`);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fs.promises.link(tmp, this.store(STORE_ID_FILE)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "EEXIST") throw err; // another process gave it one first: that one counts
      });
      return (await this.readStoreId()).id;
    } finally {
      await fs.promises.rm(tmp, { force: true }).catch(() => undefined);
    }
  }

  /** Whether `abs` (in the trash) is being deleted by a discard of this process right now. */
  isDiscarding(abs: string): boolean {
    return discarding.has(abs);
  }

  async ensure(): Promise<void> {
    try {
      makeDirsSync(this.root);
      makeDirsSync(this.store());
      for (const dir of [this.staging(), this.trash()]) makeDirsSync(dir, 0o700);
    } catch (err) {
      throw this.ensureError(err);
    }
  }

  /**
   * What failed in ensure(), named: the packs directory itself, or one of the store's own
   * directories in it (a link there that leads nowhere, a dangling one or a loop, made mkdir say
   * EEXIST about "the packs directory").
   */
  private ensureError(err: unknown): AttuneError {
    const at = (err as NodeJS.ErrnoException | null)?.path;
    const root = path.resolve(this.root);
    if (!at || path.dirname(path.resolve(at)) !== root)
      return ioError(err, this.root, "cannot create the packs directory");
    let link = false;
    try {
      link = fs.lstatSync(at).isSymbolicLink();
    } catch {
      // gone meanwhile: report the system error as it was
    }
    if (!link) return ioError(err, at, "cannot create the store directory");
    return new AttuneError(
      ErrorCodes.EIO,
      `cannot create the store directory ${at}: it is a symbolic link that leads nowhere (a dangling link or a loop)`,
      {
        path: at,
        cause: err,
        hint: `the packs directory's own entries (${STORE_DIR}, .staging, .trash) must be directories: remove the link ${at}, or restore the packs directory from a backup`,
      },
    );
  }

  /** Move `abs` into the trash (atomic, so it vanishes from its place at once), then delete it. */
  async discard(abs: string): Promise<void> {
    const dest = this.trash(`${path.basename(abs).replace(/~.*$/, "")}~${ownedSuffix()}`);
    for (let retried = false; ; retried = true) {
      try {
        await fs.promises.rename(abs, dest);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw ioError(err, abs, "cannot remove");
        // ENOENT is also a missing trash directory (removed under the process): then make it
        // again and retry once, rather than take the entry for gone and leave it behind
        if (retried || !(await fs.promises.lstat(abs).catch(() => null))) return;
        await this.ensure();
      }
    }
    discarding.add(dest);
    try {
      await fs.promises.rm(dest, { recursive: true, force: true }).catch(() => {
        // left in the trash: the next write (PackStorage.emptyTrash) or init() removes it
      });
    } finally {
      discarding.delete(dest);
    }
  }
}
