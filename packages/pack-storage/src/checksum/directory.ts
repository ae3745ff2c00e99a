// "framed v1" directory checksum (DESIGN.md §3), compatible with Attune's `attune pack checksum`.
import crypto from "node:crypto";
import { toChecksum, type Checksum } from "./format";
import { BlockBuffers, frameScratch, loadTreeFileSync, Slicer, streamFd, writeFrameHeader } from "./read";
import { sha256Hex } from "./streaming";
import { ParallelReads } from "./parallel-reads";
import { HELPER_MIN_FILES, ReaderThread } from "./reader-thread";
import { requirePathArg } from "../input";
import { compareTreePaths } from "./streaming";
import { assertRealDirectory, listTreeFiles, type TreeFile } from "./walk";

/** Reported every 256 files, after each block of a large file, and once at the end. */
export interface ChecksumProgress {
  /** files hashed so far */
  files: number;
  /** content bytes hashed so far */
  bytes: number;
  /** files in the tree (known once the walk is done) */
  totalFiles: number;
}

export interface DirectoryChecksumOptions {
  onProgress?: (p: ChecksumProgress) => void;
  /**
   * The current bytes of some files of the tree (path relative to `dir`), e.g. kept by the caller
   * that has just written them: hashed from memory instead of opening and reading the file. The walk
   * still lists the tree (so links, special files and bad names are still refused); a file without
   * known bytes is read from disk. Only for trees the caller owns: bytes given here are trusted.
   */
  contents?: (rel: string) => Buffer | undefined;
  /**
   * The SHA-256 (lowercase hex) of the bytes `contents` gives for a file, when the caller already
   * computed it (e.g. while writing the file): used for the manifest instead of hashing them again.
   * Trusted like `contents`.
   */
  digestOf?: (rel: string) => string | undefined;
}

export interface ManifestEntry {
  size: number;
  /** plain SHA-256 of the file's bytes, lowercase hex */
  sha256: string;
}
export type FileManifest = Record<string, ManifestEntry>;

const PROGRESS_EVERY_FILES = 256;

/** The directory checksum of `dir`, `sha256:<hex>`. */
export async function calculateDirectoryChecksum(
  dir: string,
  opts: DirectoryChecksumOptions = {},
): Promise<Checksum> {
  return (await hashTree(requirePathArg(dir, "dir"), false, opts)).checksum;
}

/** The directory checksum plus each file's size and SHA-256, for reporting what changed later. */
export async function calculateDirectoryManifest(
  dir: string,
  opts: DirectoryChecksumOptions = {},
): Promise<{ checksum: Checksum; files: FileManifest }> {
  const { checksum, files } = await hashTree(requirePathArg(dir, "dir"), true, opts);
  return { checksum, files: files! };
}

async function hashTree(dir: string, withManifest: boolean, opts: DirectoryChecksumOptions) {
  const root = await assertRealDirectory(dir);
  const slicer = new Slicer();
  // a big tree starts the helper while the walk goes on, unless the caller knows the bytes of most
  // files (an install's kept bytes): then ParallelReads.open starts it only if enough are unknown
  const early = opts.contents ? undefined : { files: HELPER_MIN_FILES, run: ReaderThread.prestart };
  const list = await listTreeFiles(root, slicer, early);
  const known = opts.contents ? list.map((f) => opts.contents!(f.rel)) : undefined;
  // the files to read from disk, in order: by a helper thread and this one when there are many
  const unknown = known ? list.filter((_, i) => !known[i]) : list;
  const reads = ParallelReads.open(
    unknown.map((f) => f.abs),
    withManifest,
  );
  try {
    return await hashFiles(list, known, reads, withManifest, slicer, opts);
  } finally {
    reads?.close();
  }
}

async function hashFiles(
  list: TreeFile[],
  known: (Buffer | undefined)[] | undefined,
  reads: ParallelReads | null,
  withManifest: boolean,
  slicer: Slicer,
  opts: DirectoryChecksumOptions,
) {
  const total = crypto.createHash("sha256");
  const files: FileManifest | undefined = withManifest ? Object.create(null) : undefined;
  const scratch = frameScratch();
  let buffers: BlockBuffers | undefined;
  let bytes = 0;
  let nextRead = 0;
  for (let i = 0; i < list.length; i++) {
    const file = list[i];
    let content = known?.[i];
    let sha256: string | undefined;
    if (!content && reads) {
      const got = reads.get(nextRead++);
      const read = got instanceof Promise ? await got : got;
      if (read) {
        content = read.bytes;
        sha256 = read.sha256;
      }
    }
    let size: number;
    if (content) {
      total.update(scratch.subarray(0, writeFrameHeader(scratch, file.rel, content.length, file.abs)));
      total.update(content);
      size = content.length;
      // a digest from digestOf only for bytes `contents` gave (known[i]), as documented
      if (files) sha256 ??= (known?.[i] && opts.digestOf?.(file.rel)) || sha256Hex(content);
    } else {
      const loaded = loadTreeFileSync(file.abs, file.rel, scratch);
      size = loaded.size;
      if (loaded.kind === "whole") {
        total.update(scratch.subarray(0, loaded.headerLength + loaded.size));
        sha256 = files && sha256Hex(scratch.subarray(loaded.headerLength, loaded.headerLength + loaded.size));
      } else {
        total.update(scratch.subarray(0, loaded.headerLength));
        const own = files ? crypto.createHash("sha256") : undefined;
        buffers ??= new BlockBuffers();
        let streamed = 0;
        const sink = (block: Buffer) => {
          total.update(block);
          own?.update(block);
          streamed += block.length;
          // large files report each block, so a progress bar moves during a 512 MiB file
          opts.onProgress?.({ files: i, bytes: bytes + streamed, totalFiles: list.length });
        };
        await streamFd(loaded.fd, file.abs, buffers, sink, loaded.size);
        sha256 = own?.digest("hex");
      }
    }
    if (files && sha256 !== undefined) files[file.rel] = { size, sha256 };
    bytes += size;
    const pause = slicer.tick(); // synchronous reads: yield to the event loop every few ms
    if (pause) await pause;
    if (opts.onProgress && (i + 1) % PROGRESS_EVERY_FILES === 0) {
      opts.onProgress({ files: i + 1, bytes, totalFiles: list.length });
    }
  }
  opts.onProgress?.({ files: list.length, bytes, totalFiles: list.length });
  return { checksum: toChecksum(total.digest("hex")), files };
}

/**
 * Which files differ between a recorded manifest and a fresh one, each list in the checksum's path
 * order (component by component, bytewise: `a/x` before `a-b`; see compareTreePaths).
 */
export function diffManifest(
  recorded: FileManifest,
  current: FileManifest,
): { changed: string[]; added: string[]; removed: string[] } {
  const changed: string[] = [];
  const added: string[] = [];
  const removed: string[] = [];
  for (const [rel, cur] of Object.entries(current)) {
    const old = Object.prototype.hasOwnProperty.call(recorded, rel) ? recorded[rel] : undefined;
    if (!old) added.push(rel);
    else if (old.size !== cur.size || old.sha256 !== cur.sha256) changed.push(rel);
  }
  for (const rel of Object.keys(recorded)) {
    if (!Object.prototype.hasOwnProperty.call(current, rel)) removed.push(rel);
  }
  return {
    changed: changed.sort(compareTreePaths),
    added: added.sort(compareTreePaths),
    removed: removed.sort(compareTreePaths),
  };
}
