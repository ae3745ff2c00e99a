import {
  closeSync,
  fchmodSync,
  fstatSync,
  openSync,
  readlinkSync,
  readSync,
  realpathSync,
  writeSync,
  type Stats,
} from "node:fs";
import { sep } from "node:path";
import {
  AttuneError,
  ErrorCodes,
  ioError,
  specialFileKind,
  type StreamingTreeHasher,
} from "@attune/pack-storage";
import type { ExtractLimits } from "../../extract/limits";
import { CREATE_FLAGS, NO_FOLLOW_FLAGS } from "../../open-flags";
import { hardLinkError, specialFileError, symlinkError, tooLarge } from "./walk";

// Synchronous calls on raw descriptors, one file after the other: a copy of 20,000 small files is
// nothing but per-call overhead, and the synchronous calls have the least of it (no request object,
// no callback, no trip through the thread pool). See copy-tree.ts for why not concurrent.

const CHUNK = 1024 * 1024;
// NO_FOLLOW_FLAGS has O_NONBLOCK: a file swapped for a FIFO after the walk must not hang open()

export interface CopyState {
  limits: ExtractLimits;
  /** bits of the process umask; a created file whose mode they touch needs an explicit fchmod */
  umask: number;
  files: number;
  bytes: number;
  /** one buffer reused by every file; grown on demand up to CHUNK */
  buffer?: Buffer;
  /** hashes the bytes as they are written (files come in checksum order) */
  hasher?: StreamingTreeHasher;
  /**
   * The real path of the source directory when reads must provably stay inside it (local source
   * roots enforced: the API). O_NOFOLLOW guards only the last component of a path; this also
   * catches a directory on the path swapped for a link between the walk and the copy.
   */
  confine?: string;
  /**
   * Bytes written by every thread of a two-thread copy (ParallelReads): the total cap is checked
   * against it before a file is created, so nothing is written past maxTotalBytes whichever
   * thread writes.
   */
  written?: { reserveWrite(size: number): boolean; readonly writtenBytes: number };
}

function openSource(from: string, rel: string): number {
  try {
    return openSync(from, NO_FOLLOW_FLAGS);
  } catch (err) {
    // the walk saw a regular file: ELOOP means it was replaced by a link since
    if ((err as NodeJS.ErrnoException).code === "ELOOP") throw symlinkError(rel, from);
    throw ioError(err, from, "cannot read");
  }
}

/** Where the open descriptor really is (Linux: /proc/self/fd; elsewhere the path resolved now). */
function openedPath(fd: number, from: string): string {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    try {
      return realpathSync(from);
    } catch {
      return "(a path that changed while it was resolved)"; // a race on the way: not confined
    }
  }
}

function assertConfined(fd: number, from: string, rel: string, root: string): void {
  const real = openedPath(fd, from);
  if (real.startsWith(root.endsWith(sep) ? root : root + sep)) return;
  throw new AttuneError(
    ErrorCodes.ESYMLINK,
    `${rel} resolves outside the source directory (${real}): a directory on its path was replaced by a link during the copy`,
    {
      path: from,
      details: { entry: rel },
      hint: "do not modify the directory while it is being installed",
    },
  );
}

/** Check the opened source against the walk (still a regular file) and the caps; reserve its bytes. */
function admit(info: Stats, from: string, rel: string, state: CopyState): void {
  if (!info.isFile()) {
    if (info.isDirectory()) {
      throw new AttuneError(
        ErrorCodes.ESPECIAL_FILE,
        `${rel} changed from a file to a directory during the copy`,
        {
          path: from,
          details: { entry: rel },
          hint: "do not modify the directory while it is being installed",
        },
      );
    }
    throw specialFileError(rel, from, specialFileKind(info));
  }
  // under local source roots (the API) a file must be reachable only through the root: a hard link
  // made inside one to a file outside would copy that file (a symbolic link is refused anyway)
  if (state.confine !== undefined && info.nlink > 1) throw hardLinkError(from, info.nlink, rel);
  reserve(info.size, rel, state);
  if (state.written && !state.written.reserveWrite(info.size))
    throw totalTooLarge(rel, state, state.written.writtenBytes + info.size);
}

function totalTooLarge(rel: string, state: CopyState, value: number) {
  const { maxTotalBytes } = state.limits;
  return tooLarge(rel, `the directory holds more than ${maxTotalBytes} bytes`, "maxTotalBytes", value);
}

/** Count a file's bytes against the caps (per entry and for the whole tree). */
export function reserve(size: number, rel: string, state: CopyState): void {
  const { maxEntryBytes, maxTotalBytes } = state.limits;
  if (size > maxEntryBytes) throw tooLarge(rel, `larger than ${maxEntryBytes} bytes`, "maxEntryBytes", size);
  state.bytes += size;
  if (state.bytes > maxTotalBytes) throw totalTooLarge(rel, state, state.bytes);
}

function writeAll(fd: number, buf: Buffer, length: number, to: string): void {
  try {
    for (let off = 0; off < length;) off += writeSync(fd, buf, off, length - off);
  } catch (err) {
    throw ioError(err, to, "cannot write");
  }
}

function bufferFor(state: CopyState, size: number): Buffer {
  const want = Math.min(size, CHUNK);
  if (!state.buffer || state.buffer.length < want) {
    state.buffer = Buffer.allocUnsafe(Math.max(want, Math.min(CHUNK, 2 * (state.buffer?.length ?? 0))));
  }
  return state.buffer;
}

/**
 * Copy `size` bytes (the size admitted against the caps; a file that grows meanwhile is cut there, one
 * that shrinks ends early: the staged tree is what gets hashed, so the result is always consistent).
 * A small file is one read and one write.
 */
function copyBytes(src: number, dst: number, size: number, from: string, to: string, state: CopyState): void {
  const buf = bufferFor(state, size);
  for (let done = 0; done < size;) {
    let bytesRead: number;
    try {
      bytesRead = readSync(src, buf, 0, Math.min(buf.length, size - done), null);
    } catch (err) {
      throw ioError(err, from, "cannot read");
    }
    if (bytesRead === 0) break;
    writeAll(dst, buf, bytesRead, to);
    state.hasher?.update(buf.subarray(0, bytesRead));
    done += bytesRead;
  }
}

/**
 * Copy one regular file: open with O_NOFOLLOW (a file swapped for a link since the walk is refused),
 * fstat the open descriptor (what is read is what was checked), create the copy with
 * O_CREAT|O_EXCL|O_NOFOLLOW in the fresh work directory, mode exactly 0755 or 0644.
 */
export function copyRegularFile(from: string, to: string, rel: string, state: CopyState): void {
  const src = openSource(from, rel);
  try {
    if (state.confine !== undefined) assertConfined(src, from, rel, state.confine);
    const info = fstatSync(src);
    admit(info, from, rel, state);
    const mode = info.mode & 0o111 ? 0o755 : 0o644;
    let dst: number;
    try {
      dst = openSync(to, CREATE_FLAGS, mode);
    } catch (err) {
      throw ioError(err, to, "cannot create");
    }
    try {
      state.hasher?.beginFile(rel, info.size);
      if (info.size > 0) copyBytes(src, dst, info.size, from, to, state);
      state.hasher?.endFile(); // a file that shrank meanwhile voids the hash: the tree is hashed on disk
      if (mode & state.umask) fchmodSync(dst, mode);
    } finally {
      closeSync(dst);
    }
  } finally {
    closeSync(src);
  }
  state.files += 1;
}
