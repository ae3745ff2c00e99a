// Reading file contents for hashing.
//
// Small files are read with synchronous calls in short slices (the caller yields to the event loop
// between slices). Measured on the 2-core target machine: an async fs call costs ~25 µs of
// main-thread time (thread-pool hand-off and wake-up) against ~4 µs for the same call made
// synchronously, and reader worker threads lost to contention; for a 20,000-file tree that is
// ~2 s against ~0.4 s. Large files are streamed asynchronously in big blocks, the next read in
// flight while the current block is hashed, so hashing never waits for the disk.
import {
  assertRegular,
  changedError,
  closeFd,
  fstatSyncChecked,
  openFd,
  fstatFd,
  openTreeFileSync,
  readFd,
  readSyncChecked,
} from "./fs-io";
import fs from "node:fs";

/** Files up to this size are read whole and synchronously; larger ones are streamed. */
export const WHOLE_FILE_MAX = 1024 * 1024;
/** Block size for streaming large files: large enough that syscall cost vanishes next to hashing. */
export const BLOCK_SIZE = 4 * 1024 * 1024;

export type LoadedFile =
  { kind: "whole"; size: number; data: Buffer } | { kind: "stream"; size: number; fd: number };

/**
 * Open a tree file without following links, check it is a regular file, and read it whole if small
 * (into `scratch`, valid until the next call). The size comes from fstat on the very fd that is
 * read, so a file swapped between walk and read is caught; one byte more than the size is asked
 * for, so growth is seen without another syscall.
 */
export function loadTreeFileSync(path: string, scratch: Buffer): LoadedFile {
  const fd = openTreeFileSync(path);
  let keepOpen = false;
  try {
    const st = fstatSyncChecked(fd, path);
    assertRegular(st, path);
    const size = st.size;
    if (size > WHOLE_FILE_MAX || size + 1 > scratch.length) {
      keepOpen = true;
      return { kind: "stream", size, fd };
    }
    let got = 0;
    for (;;) {
      const n = readSyncChecked(fd, scratch, got, size + 1 - got, got, path);
      got += n;
      // a short read landing exactly on the stat size is end-of-file on a regular file
      if (n === 0 || got >= size) break;
    }
    if (got !== size) throw changedError(path, size, got > size ? "it grew" : `read ${got} bytes`);
    return { kind: "whole", size, data: scratch.subarray(0, size) };
  } finally {
    if (!keepOpen) fs.closeSync(fd);
  }
}

/** Reusable pair of block buffers, so streaming many large files allocates nothing more. */
export class BlockBuffers {
  private readonly pair = [Buffer.allocUnsafe(BLOCK_SIZE), Buffer.allocUnsafe(BLOCK_SIZE)];
  get(i: number): Buffer {
    return this.pair[i & 1];
  }
}

/**
 * Stream `fd` to `sink` in blocks, reading block n+1 while block n is hashed (libuv reads run on
 * the thread pool, hashing on this thread). With `expectedSize`, any other length is ECHANGED.
 * Always closes the fd.
 */
export async function streamFd(
  fd: number,
  path: string,
  buffers: BlockBuffers,
  sink: (block: Buffer) => void,
  expectedSize?: number,
): Promise<number> {
  try {
    let pos = 0;
    let i = 0;
    let pending = readFd(fd, buffers.get(i), 0, BLOCK_SIZE, pos, path);
    for (;;) {
      const n = await pending;
      if (n === 0) break;
      const block = buffers.get(i);
      pos += n;
      if (expectedSize !== undefined && pos > expectedSize) throw changedError(path, expectedSize, "it grew");
      i++;
      pending = readFd(fd, buffers.get(i), 0, BLOCK_SIZE, pos, path);
      sink(n === BLOCK_SIZE ? block : block.subarray(0, n));
    }
    if (expectedSize !== undefined && pos !== expectedSize) {
      throw changedError(path, expectedSize, `read ${pos} bytes`);
    }
    return pos;
  } finally {
    closeFd(fd);
  }
}

/** Open a user-given file (links followed), check it is regular, and return fd + size. */
export async function openUserFile(path: string): Promise<{ fd: number; size: number }> {
  const fd = await openFd(path, true);
  try {
    const st = await fstatFd(fd, path);
    assertRegular(st, path);
    return { fd, size: st.size };
  } catch (err) {
    closeFd(fd);
    throw err;
  }
}

/** Tracks time spent in synchronous work so callers can yield to the event loop every few ms. */
export class Slicer {
  private last = performance.now();
  constructor(private readonly budgetMs = 8) {}
  async maybeYield(): Promise<void> {
    if (performance.now() - this.last < this.budgetMs) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.last = performance.now();
  }
}
