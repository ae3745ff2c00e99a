import fs from "node:fs/promises";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { makeDirs } from "@attune/pack-storage";
import { parseIndex, type RegistryIndex } from "./schema";

/** Bump when the on-disk shape changes; older copies are then ignored, never misread. */
export const INDEX_CACHE_FORMAT = 1;

export interface CachedIndex {
  url: string;
  fetchedAt: Date;
  index: RegistryIndex;
}

interface CacheFile {
  format: number;
  registry: string;
  url: string;
  fetched_at: string;
  index: unknown;
}

/**
 * On-disk copies of fetched indexes (`<cacheDir>/<registry>.json`), so search works offline
 * and can say how old its data is. A copy is re-validated on read: the cache is not trusted
 * more than the network. A copy for another URL (registry re-pointed) is ignored.
 */
export class IndexDiskCache {
  constructor(readonly dir: string) {}

  private file(name: string): string {
    return path.join(this.dir, `${name}.json`);
  }

  async read(name: string, url: string): Promise<CachedIndex | null> {
    let doc: CacheFile;
    try {
      doc = JSON.parse(await fs.readFile(this.file(name), "utf8")) as CacheFile;
    } catch {
      return null; // missing or unreadable copy: behave as if there were none
    }
    if (doc?.format !== INDEX_CACHE_FORMAT || doc.registry !== name || doc.url !== url) return null;
    const fetchedAt = new Date(doc.fetched_at);
    if (Number.isNaN(fetchedAt.getTime())) return null;
    try {
      return { url, fetchedAt, index: parseIndex(doc.index, `cached copy of registry "${name}"`) };
    } catch {
      return null;
    }
  }

  /** Atomic write (temp + rename), so a reader never sees half a copy. */
  async write(name: string, entry: CachedIndex): Promise<void> {
    await makeDirs(this.dir, 0o700);
    const doc: CacheFile = {
      format: INDEX_CACHE_FORMAT,
      registry: name,
      url: entry.url,
      fetched_at: entry.fetchedAt.toISOString(),
      index: entry.index,
    };
    const tmp = `${this.file(name)}.${randomBytes(6).toString("hex")}.tmp`;
    try {
      await fs.writeFile(tmp, JSON.stringify(doc), { mode: 0o600 });
      await fs.rename(tmp, this.file(name));
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }
}
