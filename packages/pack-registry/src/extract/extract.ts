import { AttuneError, ErrorCodes } from "@attune/pack-storage";
import type { KeptContents } from "./kept";
import { TreeWriter } from "./writer";
import { detectArchiveType, type ArchiveType } from "./detect";
import { EntryChecker } from "./entry-checker";
import { intoFreshDir } from "./fresh-dir";
import { resolveLimits, type ExtractLimits } from "./limits";
import { abortedError, extractTar, type ReaderItem } from "./tar-reader";
import { readZip } from "./zip-reader";

export interface ExtractOptions {
  /** the name whose extension states the archive type (default: the file's own name) */
  name?: string;
  signal?: AbortSignal;
  onProgress?: (p: { files: number; bytes: number }) => void;
  /**
   * tar and tar.gz only: called with every byte of the archive file, in order, exactly once, as it
   * is read to be extracted (the whole file is read, to its end), e.g. to hash exactly the bytes
   * that were extracted without copying the file first. Throwing an AttuneError refuses the archive
   * with that error. A zip is read out of order (central directory first), so it is refused here.
   */
  onRead?: (chunk: Buffer) => void;
  /** open the archive without following a link, and only if it is a regular file */
  noFollow?: boolean;
  /** keep the bytes of the files written (paths relative to `dest`), within its budget */
  kept?: KeptContents;
}

export interface ExtractResult {
  type: ArchiveType;
  files: number;
  directories: number;
  bytes: number;
  /** tar: bytes after the end-of-archive marker, read and ignored (as tar does); zip: 0 */
  trailingBytes: number;
}

/** Check and write the entries the zip reader yields (bodies independent of each other). */
async function writeEntries(
  items: AsyncIterable<ReaderItem>,
  root: string,
  limits: ExtractLimits,
  opts: ExtractOptions,
) {
  const checker = new EntryChecker(limits);
  const writer = new TreeWriter(root, limits, opts.onProgress, opts.kept, true);
  try {
    for await (const { entry, body } of items) {
      throwIfAborted(opts.signal);
      const rel = checker.check(entry);
      if (rel === null) continue;
      if (entry.kind === "directory") await writer.directory(rel);
      else {
        const executable = (entry.mode & 0o111) !== 0;
        await writer.file(rel, body ?? emptyBody(), entry.size, executable, true);
      }
    }
  } catch (err) {
    // writes still in flight must stop before the work directory is removed
    await writer.abandon();
    throw err;
  }
  await writer.finish();
  // an empty zip is refused like an empty tar (tar-reader.ts), not left to fail as "no pack.yaml"
  if (writer.files === 0 && writer.directories === 0)
    throw new AttuneError(ErrorCodes.EUNSAFE_ARCHIVE, "the archive holds no files (it is an empty zip)", {
      hint: "build the archive from the pack's directory, e.g. cd my-pack && zip -r ../pack.zip .",
    });
  writer.complete();
  return { files: writer.files, directories: writer.directories, bytes: writer.bytes, trailingBytes: 0 };
}

function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw abortedError(signal);
}

async function* emptyBody(): AsyncGenerator<Buffer> {}

/**
 * Safely extract a .tar.gz/.tgz/.tar/.zip into `dest` (absent or empty), in ONE pass: each entry is
 * checked as it streams (names, types, duplicates and collisions, declared and real sizes) and written
 * into a fresh private directory, which is renamed onto `dest` only when every entry passed and removed
 * entirely on any failure. So a refused archive leaves nothing behind, without a separate pre-scan that
 * would decompress everything twice. Zip entries are independent, so their bodies are read with bounded
 * concurrency; tar is a stream, extracted in order from inside the parser's events (tar-reader.ts).
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
  const type = await detectArchiveType(file, { name: opts.name, noFollow: opts.noFollow });
  if (type === "zip" && opts.onRead) {
    throw new AttuneError(ErrorCodes.EINVALID_INPUT, "onRead is supported for tar archives only", {
      details: { field: "onRead" },
    });
  }
  const counts = await intoFreshDir(dest, (root) =>
    type === "zip"
      ? writeEntries(readZip(file, opts.signal), root, caps, opts)
      : extractTar(file, root, caps, opts),
  );
  return { type, ...counts };
}
