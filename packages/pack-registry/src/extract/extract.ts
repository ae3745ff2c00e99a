import { AttuneError, ErrorCodes } from "@attune/pack-storage";
import { TreeWriter } from "./writer";
import { detectArchiveType, type ArchiveType } from "./detect";
import { EntryChecker } from "./entry-checker";
import { intoFreshDir } from "./fresh-dir";
import { resolveLimits, type ExtractLimits } from "./limits";
import { readTar, scanTar, type ReaderItem } from "./tar-reader";
import { readZip } from "./zip-reader";

export interface ExtractOptions {
  /** the name whose extension states the archive type (default: the file's own name) */
  name?: string;
  signal?: AbortSignal;
  onProgress?: (p: { files: number; bytes: number }) => void;
}

export interface ExtractResult {
  type: ArchiveType;
  files: number;
  directories: number;
  bytes: number;
}

async function writeEntries(
  items: AsyncIterable<ReaderItem>,
  root: string,
  limits: ExtractLimits,
  opts: ExtractOptions,
) {
  const checker = new EntryChecker(limits);
  const writer = new TreeWriter(root, limits, opts.onProgress);
  try {
    for await (const { entry, body } of items) {
      throwIfAborted(opts.signal);
      const rel = checker.check(entry);
      if (rel === null) continue;
      if (entry.kind === "directory") await writer.directory(rel);
      else await writer.file(rel, body ?? emptyBody(), entry.size, (entry.mode & 0o111) !== 0);
    }
  } catch (err) {
    // writes still in flight must land before the work directory is removed
    await writer.finish().catch(() => undefined);
    throw err;
  }
  await writer.finish();
  return { files: writer.files, directories: writer.directories, bytes: writer.bytes };
}

function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new AttuneError(ErrorCodes.EIO, "extraction aborted", { cause: signal.reason });
}

async function* emptyBody(): AsyncGenerator<Buffer> {}

function reader(type: ArchiveType): (file: string, signal?: AbortSignal) => AsyncGenerator<ReaderItem> {
  return type === "zip" ? readZip : readTar;
}

/**
 * Safely extract a .tar.gz/.tgz/.tar/.zip into `dest` (absent or empty). Two passes: the first reads
 * every header and refuses the archive before anything is written (unsafe names, links, devices,
 * duplicates, collisions, caps); the second writes into a fresh private directory, re-checking every
 * entry and counting real bytes, and renames it onto `dest` only when all went well.
 * Throws EUNSAFE_ARCHIVE or ETOO_LARGE with `details.entry` naming the entry.
 */
export async function extractArchive(
  file: string,
  dest: string,
  limits: Partial<ExtractLimits> = {},
  opts: ExtractOptions = {},
): Promise<ExtractResult> {
  const caps = resolveLimits(limits);
  throwIfAborted(opts.signal);
  const type = await detectArchiveType(file, { name: opts.name });
  const read = reader(type);
  const scan = new EntryChecker(caps);
  if (type === "zip") {
    for await (const { entry } of readZip(file, opts.signal)) scan.check(entry);
  } else {
    await scanTar(file, (entry) => void scan.check(entry), opts.signal);
  }
  const counts = await intoFreshDir(dest, (root) => writeEntries(read(file, opts.signal), root, caps, opts));
  return { type, ...counts };
}
