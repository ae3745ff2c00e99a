// The framed-v1 checksum (DESIGN.md §3) of a tree computed from bytes as they are written, so a
// copy or an extraction does not have to read the whole tree back to hash it.
import crypto from "node:crypto";
import type { FileManifest } from "./directory";
import { toChecksum, type Checksum } from "./format";
import { headerScratch, writeFrameHeader } from "./read";
import { compareUtf8 } from "./walk";

const SLASH = 0x2f;

/**
 * Order of two relative paths in the checksum: component by component, each bytewise (UTF-8).
 * Equivalent to comparing the strings with "/" ranked below every other character (a shorter
 * component sorts first), which needs no splitting; a fast path for the per-file order check.
 */
export function compareTreePaths(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x === SLASH) return -1;
    if (y === SLASH) return 1;
    return compareUtf8(a.slice(i, i + 2), b.slice(i, i + 2));
  }
  return a.length - b.length;
}

/** Whether a component of the relative path is exactly `.git` (without splitting it). */
function hasGitComponent(rel: string): boolean {
  for (let at = rel.indexOf(".git"); at !== -1; at = rel.indexOf(".git", at + 1)) {
    const end = at + 4;
    if (
      (at === 0 || rel.charCodeAt(at - 1) === SLASH) &&
      (end === rel.length || rel.charCodeAt(end) === SLASH)
    )
      return true;
  }
  return false;
}

const EMPTY_SHA256 = crypto.createHash("sha256").digest("hex");
/** SHA-256 of `data`, lowercase hex, in one call. */
export const sha256Hex: (data: Buffer) => string =
  typeof crypto.hash === "function"
    ? (data) => crypto.hash("sha256", data, "hex")
    : (data) => crypto.createHash("sha256").update(data).digest("hex");

/** A tree's checksum and per-file manifest, as `calculateDirectoryManifest` returns them. */
export interface TreeHash {
  checksum: Checksum;
  files: FileManifest;
}

/**
 * Hashes the files of one tree as a writer hands them over: `beginFile`, its bytes through `update`,
 * `endFile`. The result equals `calculateDirectoryManifest` of the written tree when every file
 * came exactly once, in checksum order, with exactly its declared size. Anything else (a file out
 * of order, a byte count that differs from the size) does not throw: it makes `result()` null, and
 * the caller hashes the tree on disk as before. Paths are relative to the tree written; `root`
 * (a relative directory, "" for the whole tree) selects the subtree whose checksum is wanted.
 * Files outside it, and files under a `.git` directory at any depth, are not hashed (the checksum
 * skips `.git`).
 */
export class StreamingTreeHasher {
  private readonly prefix: string;
  private readonly total = crypto.createHash("sha256");
  private readonly files: FileManifest = Object.create(null) as FileManifest;
  private readonly scratch = headerScratch();
  private previous: string | null = null;
  private current: {
    rel: string;
    size: number;
    seen: number;
    own: crypto.Hash | null;
    digest: string | null;
  } | null = null;
  private invalid: string | null = null;
  private done: TreeHash | null = null;

  constructor(readonly root = "") {
    this.prefix = root === "" ? "" : `${root.replace(/\/+$/, "")}/`;
  }

  /** Why the result is unusable, or null while it is still good. */
  get invalidReason(): string | null {
    return this.invalid;
  }

  /** Give up: the tree will be hashed on disk (`result()` returns null). */
  invalidate(reason: string): void {
    this.invalid ??= reason;
    this.current = null;
  }

  /** Start the file at `path` (relative to the written tree) of `size` bytes. */
  beginFile(path: string, size: number): void {
    if (this.invalid !== null) return;
    if (this.done) return this.invalidate(`${path}: the result was already taken`);
    if (this.current) return this.invalidate(`${this.current.rel}: not ended before ${path}`);
    if (!path.startsWith(this.prefix)) return;
    const rel = path.slice(this.prefix.length);
    if (rel === "" || hasGitComponent(rel)) return;
    if (this.previous !== null && compareTreePaths(this.previous, rel) >= 0)
      return this.invalidate(`${rel} came after ${this.previous}`);
    this.previous = rel;
    const headerLength = writeFrameHeader(this.scratch, rel, size, rel);
    this.total.update(this.scratch.subarray(0, headerLength));
    this.current = { rel, size, seen: 0, own: null, digest: null };
  }

  /** The next bytes of the current file (ignored for a file that is not hashed). */
  update(chunk: Buffer): void {
    const file = this.current;
    if (!file) return;
    const whole = file.seen === 0 && chunk.length === file.size;
    file.seen += chunk.length;
    if (file.seen > file.size) return this.invalidate(`${file.rel}: more bytes than its size ${file.size}`);
    this.total.update(chunk);
    // most files arrive in one chunk: a one-shot digest costs less than a Hash object per file
    if (whole) file.digest = sha256Hex(chunk);
    else (file.own ??= crypto.createHash("sha256")).update(chunk);
  }

  /** A whole file at once (`sha256`: its digest, when the caller already has it). */
  addFile(path: string, bytes: Buffer, sha256?: string): void {
    this.beginFile(path, bytes.length);
    const file = this.current;
    if (!file) return;
    this.total.update(bytes);
    file.seen = bytes.length;
    file.digest = sha256 ?? sha256Hex(bytes);
    this.endFile();
  }

  endFile(): void {
    const file = this.current;
    if (!file) return;
    this.current = null;
    if (file.seen !== file.size)
      return this.invalidate(`${file.rel}: ${file.seen} bytes written, ${file.size} declared`);
    const sha256 = file.digest ?? file.own?.digest("hex") ?? EMPTY_SHA256;
    this.files[file.rel] = { size: file.size, sha256 };
  }

  /** The checksum and manifest of the `root` subtree, or null when the stream could not give them. */
  result(): TreeHash | null {
    if (this.invalid !== null || this.current !== null) return null;
    this.done ??= { checksum: toChecksum(this.total.digest("hex")), files: this.files };
    return this.done;
  }
}
