import fs from "node:fs/promises";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { loadSemver } from "../lazy";
import { AttuneError, ErrorCodes, ioError } from "@attune/pack-storage";
import { parseIndex, parseIndexEntry, type IndexEntry, type RegistryIndex } from "./schema";

export interface MergeOptions {
  /** used only when the index file does not exist yet */
  registryName?: string;
  registryUrl?: string;
  now?: () => Date;
}

async function readIndexFile(file: string, opts: MergeOptions): Promise<RegistryIndex> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw ioError(e, file, "read index");
    return {
      registry_name: opts.registryName ?? path.basename(file).replace(/\.json$/i, ""),
      registry_url: opts.registryUrl ?? "",
      version: "1.0",
      last_updated: new Date(0).toISOString(),
      packs: [],
    };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new AttuneError(ErrorCodes.EINDEX, `index ${file}: not valid JSON; refusing to overwrite it`, {
      cause,
      path: file,
    });
  }
  return parseIndex(json, file); // a broken index is reported, never silently replaced
}

/**
 * Add an entry to an index file, or replace the entry with the same ref+version. The file is
 * written to a temp sibling and renamed over the old one, so readers see the old or the new index.
 */
export async function mergeIndexEntry(
  indexFile: string,
  entry: IndexEntry,
  opts: MergeOptions = {},
): Promise<{ replaced: boolean }> {
  const valid = parseIndexEntry(entry, "new entry");
  const index = await readIndexFile(indexFile, opts);
  const at = index.packs.findIndex((p) => p.ref === valid.ref && p.version === valid.version);
  const packs = at >= 0 ? index.packs.map((p, i) => (i === at ? valid : p)) : [...index.packs, valid];
  packs.sort((a, b) =>
    a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : loadSemver().compareBuild(a.version, b.version),
  );
  const now = (opts.now ?? (() => new Date()))();
  const next: RegistryIndex = { ...index, last_updated: now.toISOString().replace(/\.\d{3}Z$/, "Z"), packs };
  parseIndex(next, indexFile);
  const tmp = path.join(
    path.dirname(indexFile),
    `.${path.basename(indexFile)}.${randomBytes(6).toString("hex")}.tmp`,
  );
  try {
    const mode = await fs.stat(indexFile).then(
      (s) => s.mode & 0o777,
      () => 0o644,
    );
    await fs.writeFile(tmp, `${JSON.stringify(next, null, 2)}\n`, { mode, flag: "wx" });
    await fs.rename(tmp, indexFile);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw ioError(e, indexFile, "write index");
  }
  return { replaced: at >= 0 };
}
