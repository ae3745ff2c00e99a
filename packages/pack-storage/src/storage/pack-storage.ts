import fs from "node:fs";
import path from "node:path";
import { AttuneError, ErrorCodes, ioError } from "../errors";
import { cleanLeftovers } from "./cleanup";
import { Layout } from "./layout";
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
}

/**
 * Versioned pack storage: immutable content directories plus an atomic symlink swap, so readers of
 * `<packsDir>/<ref>-<version>` always see a whole tree (see README "Storage design").
 */
export class PackStorage {
  readonly packsDir: string;
  private readonly layout: Layout;

  constructor(opts: PackStorageOptions) {
    if (!opts?.packsDir) {
      throw new AttuneError(ErrorCodes.EINVALID_INPUT, "packsDir is required", {
        details: { field: "packsDir" },
      });
    }
    this.packsDir = path.resolve(opts.packsDir);
    this.layout = new Layout(this.packsDir);
  }

  /** Create the layout and remove what crashed processes left behind (staging, trash, unlinked store dirs). */
  async init(): Promise<void> {
    await this.layout.ensure();
    await cleanLeftovers(this.layout);
  }

  /**
   * Whether the packs directory is still this store (for readiness probes): a directory holding the
   * store of content directories. ENOENT when it is gone; EIO when it is not a directory, or when
   * it was emptied or replaced under the process (the store directory is missing: the installed
   * packs' files went with it, though the next install would create a new, empty one).
   */
  async checkIntact(): Promise<void> {
    const dir = this.packsDir;
    let st: fs.Stats;
    try {
      st = await fs.promises.stat(dir);
    } catch (e) {
      throw ioError(e, dir, "cannot read the packs directory");
    }
    if (!st.isDirectory())
      throw new AttuneError(ErrorCodes.EIO, `the packs directory ${dir} is not a directory`, {
        path: dir,
        hint: "restore the packs directory (or point packs_dir at it) and restart this process",
      });
    const store = this.layout.store();
    const inner = await fs.promises.stat(store).catch((e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") return null;
      throw ioError(e, store, "cannot read the store");
    });
    if (!inner?.isDirectory())
      throw new AttuneError(
        ErrorCodes.EIO,
        `the packs directory ${dir} has lost its store (${path.basename(store)}): it was emptied or replaced`,
        {
          path: dir,
          hint: "restore the whole packs directory from a backup and run `attune pack verify --all`, or reinstall the packs",
        },
      );
  }

  /** A private (0700) directory under packsDir, on the same filesystem, to stage a pack in. */
  async createStagingDir(): Promise<string> {
    await this.layout.ensure();
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
    const name = entryName(ref, validateVersion(version));
    const finalPath = this.layout.entry(name);
    await this.layout.ensure();
    if (!opts.replace && (await lstatOrNull(finalPath))) throw conflict(ref, version, finalPath);
    const storeName = await moveIntoStore(this.layout, stagedDir, name);
    try {
      await swapLink(this.layout, finalPath, storeName, !!opts.replace);
    } catch (err) {
      await this.layout.discard(this.layout.store(storeName));
      if ((err as NodeJS.ErrnoException).code === "EEXIST") throw conflict(ref, version, finalPath);
      throw ioError(err, finalPath, "cannot install");
    }
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

function entryName(ref: string, version?: string): string {
  validateRef(ref);
  return version === undefined ? ref : `${ref}-${validateVersion(version)}`;
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
