import { constants } from "node:fs";
import { mkdir, open } from "node:fs/promises";
import { dirname, join } from "node:path";
import { AttuneError, ErrorCodes, ioError } from "@attune/pack-storage";
import { detectArchiveType, type ArchiveType } from "./detect";
import { EntryChecker, tooLarge, unsafe } from "./entry-checker";
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

const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

interface Budget {
  limits: ExtractLimits;
  total: number;
}

/** Write one file, counting the bytes really produced (a header may lie; the inflater does not). */
async function writeFile(
  target: string,
  rel: string,
  body: AsyncIterable<Buffer>,
  mode: number,
  budget: Budget,
) {
  const { maxEntryBytes, maxTotalBytes } = budget.limits;
  let written = 0;
  const handle = await open(target, CREATE_FLAGS, mode).catch((err) => {
    throw ioError(err, target, "cannot create");
  });
  try {
    for await (const chunk of body) {
      written += chunk.length;
      budget.total += chunk.length;
      if (written > maxEntryBytes) {
        throw tooLarge(
          rel,
          `holds more than ${maxEntryBytes} bytes (cap per entry)`,
          "maxEntryBytes",
          written,
        );
      }
      if (budget.total > maxTotalBytes) {
        throw tooLarge(
          rel,
          `archive holds more than ${maxTotalBytes} bytes in total`,
          "maxTotalBytes",
          budget.total,
        );
      }
      await handle.write(chunk);
    }
    await handle.chmod(mode); // exact bits whatever the umask: 0755 or 0644, never setuid/sticky/world-writable
  } finally {
    await handle.close();
  }
  return written;
}

async function writeEntries(
  items: AsyncIterable<ReaderItem>,
  root: string,
  limits: ExtractLimits,
  opts: ExtractOptions,
) {
  const checker = new EntryChecker(limits);
  const budget: Budget = { limits, total: 0 };
  let files = 0;
  let directories = 0;
  for await (const { entry, body } of items) {
    throwIfAborted(opts.signal);
    const rel = checker.check(entry);
    if (rel === null) continue;
    // root is fresh and private and nothing here ever creates a link, so mkdir -p cannot be redirected
    const target = join(root, ...rel.split("/"));
    if (entry.kind === "directory") {
      await mkdir(target, { recursive: true, mode: 0o755 }).catch((err) => {
        throw ioError(err, rel, "cannot create directory");
      });
      directories += 1;
      continue;
    }
    await mkdir(dirname(target), { recursive: true, mode: 0o755 }).catch((err) => {
      throw ioError(err, rel, "cannot create directory for");
    });
    const mode = entry.mode & 0o111 ? 0o755 : 0o644;
    const written = await writeFile(target, rel, body ?? emptyBody(), mode, budget);
    if (written !== entry.size) {
      throw unsafe(rel, `declares ${entry.size} bytes but holds ${written}`);
    }
    files += 1;
    opts.onProgress?.({ files, bytes: budget.total });
  }
  return { files, directories, bytes: budget.total };
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
