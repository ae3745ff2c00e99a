// The on-disk layout of a packs directory, defined in one place (the format version is in the name):
//
//   <packsDir>/<ref>-<version>  -> .store-v1/<ref>-<version>~<owner>   symlink swapped atomically
//   <packsDir>/<ref>/                                                 legacy unversioned install (read-only support)
//   <packsDir>/.store-v1/<ref>-<version>~<owner>/                      immutable content directories
//   <packsDir>/.staging/<owner>/  and  .staging/link~<owner>           private (0700) staging dirs, temp links
//   <packsDir>/.trash/<...>~<owner>                                    entries being deleted
//
// Every internal name starts with "." so it can never be a ref (refs start with a-z).
import fs from "node:fs";
import path from "node:path";
import { ioError } from "../errors";
import { makeDirsSync } from "../make-dirs";
import { ownedSuffix } from "./owner";

export const STORE_DIR = ".store-v1";
export const STAGING_DIR = ".staging";
export const TRASH_DIR = ".trash";

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

  async ensure(): Promise<void> {
    try {
      makeDirsSync(this.root);
      makeDirsSync(this.store());
      for (const dir of [this.staging(), this.trash()]) makeDirsSync(dir, 0o700);
    } catch (err) {
      throw ioError(err, this.root, "cannot create the packs directory");
    }
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
    await fs.promises.rm(dest, { recursive: true, force: true }).catch(() => {
      // left in the trash: the next init() removes it
    });
  }
}
