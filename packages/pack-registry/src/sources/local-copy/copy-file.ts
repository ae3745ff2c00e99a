import { close, constants, fchmod, fstat, open, read, write, type Stats } from "node:fs";
import { promisify } from "node:util";
import { AttuneError, ErrorCodes, ioError } from "@attune/pack-storage";
import type { ExtractLimits } from "../../extract/limits";
import { specialFileError, symlinkError, tooLarge } from "./walk";

// raw fds and callbacks: about half the per-call overhead of FileHandle promises, and a copy of
// 20,000 small files is nothing but per-call overhead
const openFd = promisify(open);
const fstatFd = promisify(fstat);
const readFd = promisify(read);
const writeFd = promisify(write);
const closeFd = promisify(close);
const fchmodFd = promisify(fchmod);

const CHUNK = 1024 * 1024;
// O_NONBLOCK: a file swapped for a FIFO after the walk must not hang a thread-pool thread in open()
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

export interface CopyState {
  limits: ExtractLimits;
  /** bits of the process umask; a created file whose mode they touch needs an explicit fchmod */
  umask: number;
  files: number;
  bytes: number;
  onProgress?: (p: { files: number; bytes: number }) => void;
}

async function openSource(from: string, rel: string): Promise<number> {
  try {
    return await openFd(from, READ_FLAGS);
  } catch (err) {
    // the walk saw a regular file: ELOOP means it was replaced by a link since
    if ((err as NodeJS.ErrnoException).code === "ELOOP") throw symlinkError(rel, from);
    throw ioError(err, from, "cannot read");
  }
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
    throw specialFileError(rel, from);
  }
  const { maxEntryBytes, maxTotalBytes } = state.limits;
  if (info.size > maxEntryBytes)
    throw tooLarge(rel, `larger than ${maxEntryBytes} bytes`, "maxEntryBytes", info.size);
  state.bytes += info.size;
  if (state.bytes > maxTotalBytes) {
    throw tooLarge(rel, `the directory holds more than ${maxTotalBytes} bytes`, "maxTotalBytes", state.bytes);
  }
}

async function writeAll(fd: number, buf: Buffer, to: string): Promise<void> {
  for (let off = 0; off < buf.length;) {
    const { bytesWritten } = await writeFd(fd, buf, off, buf.length - off, null).catch((err) => {
      throw ioError(err, to, "cannot write");
    });
    off += bytesWritten;
  }
}

/**
 * Copy `size` bytes (the size admitted against the caps; a file that grows meanwhile is cut there, one
 * that shrinks ends early: the staged tree is what gets hashed, so the result is always consistent).
 */
async function copyBytes(src: number, dst: number, size: number, from: string, to: string): Promise<void> {
  const buf = Buffer.allocUnsafe(Math.min(size, CHUNK));
  for (let done = 0; done < size;) {
    const { bytesRead } = await readFd(src, buf, 0, Math.min(buf.length, size - done), null).catch((err) => {
      throw ioError(err, from, "cannot read");
    });
    if (bytesRead === 0) break;
    await writeAll(dst, buf.subarray(0, bytesRead), to);
    done += bytesRead;
  }
}

/**
 * Copy one regular file: open with O_NOFOLLOW (a file swapped for a link since the walk is refused),
 * fstat the open descriptor (what is read is what was checked), create the copy with
 * O_CREAT|O_EXCL|O_NOFOLLOW in the fresh work directory, mode exactly 0755 or 0644.
 */
export async function copyRegularFile(
  from: string,
  to: string,
  rel: string,
  state: CopyState,
): Promise<void> {
  const src = await openSource(from, rel);
  try {
    const info = await fstatFd(src);
    admit(info, from, rel, state);
    const mode = info.mode & 0o111 ? 0o755 : 0o644;
    const dst = await openFd(to, WRITE_FLAGS, mode).catch((err) => {
      throw ioError(err, to, "cannot create");
    });
    try {
      if (info.size > 0) await copyBytes(src, dst, info.size, from, to);
      if (mode & state.umask) await fchmodFd(dst, mode);
    } finally {
      await closeFd(dst);
    }
  } finally {
    await closeFd(src);
  }
  state.files += 1;
  state.onProgress?.({ files: state.files, bytes: state.bytes });
}
