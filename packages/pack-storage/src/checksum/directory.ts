// "framed v1" directory checksum (DESIGN.md §3), compatible with Attune's `attune pack checksum`.
import crypto from "node:crypto";
import { toChecksum, type Checksum } from "./format";
import { BlockBuffers, loadTreeFileSync, Slicer, streamFd, WHOLE_FILE_MAX } from "./read";
import { assertRealDirectory, listTreeFiles } from "./walk";

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
}

export interface ManifestEntry {
  size: number;
  /** plain SHA-256 of the file's bytes, lowercase hex */
  sha256: string;
}
export type FileManifest = Record<string, ManifestEntry>;

const MAGIC = Buffer.from("attune-pack-file-v1", "ascii");
const PROGRESS_EVERY_FILES = 256;

function frameHeader(rel: string, size: number): Buffer {
  const path = Buffer.from(rel, "utf8");
  const header = Buffer.allocUnsafe(MAGIC.length + 8 + path.length + 8);
  MAGIC.copy(header, 0);
  header.writeBigUInt64BE(BigInt(path.length), MAGIC.length);
  path.copy(header, MAGIC.length + 8);
  header.writeBigUInt64BE(BigInt(size), MAGIC.length + 8 + path.length);
  return header;
}

/** The directory checksum of `dir`, `sha256:<hex>`. */
export async function calculateDirectoryChecksum(
  dir: string,
  opts: DirectoryChecksumOptions = {},
): Promise<Checksum> {
  return (await hashTree(dir, false, opts)).checksum;
}

/** The directory checksum plus each file's size and SHA-256, for reporting what changed later. */
export async function calculateDirectoryManifest(
  dir: string,
  opts: DirectoryChecksumOptions = {},
): Promise<{ checksum: Checksum; files: FileManifest }> {
  const { checksum, files } = await hashTree(dir, true, opts);
  return { checksum, files: files! };
}

async function hashTree(dir: string, withManifest: boolean, opts: DirectoryChecksumOptions) {
  const root = await assertRealDirectory(dir);
  const slicer = new Slicer();
  const list = await listTreeFiles(root, slicer);
  const total = crypto.createHash("sha256");
  const files: FileManifest | undefined = withManifest ? Object.create(null) : undefined;
  const scratch = Buffer.allocUnsafe(WHOLE_FILE_MAX + 1);
  let buffers: BlockBuffers | undefined;
  let bytes = 0;
  for (let i = 0; i < list.length; i++) {
    const file = list[i];
    const loaded = loadTreeFileSync(file.abs, scratch);
    total.update(frameHeader(file.rel, loaded.size));
    const own = files ? crypto.createHash("sha256") : undefined;
    if (loaded.kind === "whole") {
      if (loaded.size > 0) total.update(loaded.data);
      own?.update(loaded.data);
      await slicer.maybeYield();
    } else {
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
    }
    if (files && own) files[file.rel] = { size: loaded.size, sha256: own.digest("hex") };
    bytes += loaded.size;
    if (opts.onProgress && (i + 1) % PROGRESS_EVERY_FILES === 0) {
      opts.onProgress({ files: i + 1, bytes, totalFiles: list.length });
    }
  }
  opts.onProgress?.({ files: list.length, bytes, totalFiles: list.length });
  return { checksum: toChecksum(total.digest("hex")), files };
}

/** Which files differ between a recorded manifest and a fresh one (each list sorted). */
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
  return { changed: changed.sort(), added: added.sort(), removed: removed.sort() };
}
