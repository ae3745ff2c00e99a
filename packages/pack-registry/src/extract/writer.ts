import { closeSync, fchmodSync, mkdirSync, openSync, writeSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { dirname, sep } from "node:path";
import { ioError } from "@attune/pack-storage";
import { tooLarge, unsafe } from "./entry-checker";
import type { KeptContents } from "./kept";
import type { ExtractLimits } from "./limits";
import { PROGRESS_EVERY_FILES } from "../progress";
import { WriteThread, type WriteFailure } from "./write-thread";
import { CREATE_FLAGS } from "../open-flags";

/** files up to this size are collected and written by one open/write/close; bigger ones stream */
const SMALL_FILE = 1024 * 1024;
/** small files written on the calling thread before a writing thread is started (when allowed) */
const THREAD_AFTER_FILES = 64;
/** zip bodies collected in the background at once (their inflation runs on the thread pool) */
const PARALLEL_BODIES = 8;
/** bytes of collected zip bodies allowed in flight, so memory stays bounded whatever the archive */
const BUFFERED_BYTES = 16 * 1024 * 1024;
// Read once: when the umask keeps 0755/0644 intact (the usual 022), open(mode) is exact and the
// fchmod per file can be skipped.
const UMASK = process.umask();
const exact = (mode: number) => (mode & ~UMASK) === mode;

/** A file whose bytes arrive synchronously, chunk by chunk (see TreeWriter.begin). */
export interface FileSink {
  write(chunk: Buffer): void;
  /** all bytes arrived: check the size, write a small file, close */
  end(): void;
  /** stop without finishing (closes what is open; the work directory is removed by the caller) */
  abort(): void;
}

/** write(2) may write less than asked (a full disk, a signal); loop until all is written. */
export async function writeAll(handle: FileHandle, data: Buffer): Promise<void> {
  for (let offset = 0; offset < data.length;) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset);
    offset += bytesWritten;
  }
}

function writeAllSync(fd: number, data: Buffer, target: string): void {
  try {
    for (let offset = 0; offset < data.length;) offset += writeSync(fd, data, offset, data.length - offset);
  } catch (err) {
    throw ioError(err, target, "cannot write");
  }
}

/** The writing thread's failure as the error the same system call would give on this thread. */
function threadError(failed: WriteFailure): Error {
  return ioError(Object.assign(new Error(failed.message), { code: failed.code }), failed.target, failed.step);
}

/**
 * Writes a validated entry stream into a fresh private root. Counts the bytes really produced (a
 * header may lie; the inflater does not) against the caps. The root is fresh and nothing here ever
 * creates a link, so `mkdir -p` cannot be redirected, and O_EXCL|O_NOFOLLOW guards the rest.
 *
 * Files are written synchronously, one after the other, like GNU tar does: on the calling thread,
 * or (`threaded`, after the first THREAD_AFTER_FILES files) small files on one writing thread
 * (write-thread.ts) while the caller goes on parsing. Creating files in one directory from several
 * thread-pool threads contends on the directory's lock in the kernel: with the 4 default threads,
 * extracting 20,000 small files took 5x longer (and 10x the system time) than one file at a time.
 * Decompression still runs on the pool, so inflating the next entry overlaps with writing this one.
 */
export class TreeWriter {
  files = 0;
  directories = 0;
  bytes = 0;
  private readonly made = new Set<string>([""]);
  private readonly pending = new Set<Promise<void>>();
  private inFlightBytes = 0;
  private failure: unknown = null;
  /** files counted in the last progress report */
  private reported = 0;

  constructor(
    private readonly root: string,
    private readonly limits: ExtractLimits,
    private readonly onProgress?: (p: { files: number; bytes: number }) => void,
    /** keeps the bytes of the files written whole, for hashing without reading them back */
    private readonly kept?: KeptContents,
    /**
     * create the small files on a second thread (write-thread.ts) once THREAD_AFTER_FILES files were
     * written here (a small archive is done before a thread would have started)
     */
    private readonly threaded = false,
  ) {
    this.rootSlash = root.endsWith(sep) ? root : root + sep;
  }

  private thread: WriteThread | null = null;
  private threadTried = false;
  private readonly rootSlash: string;

  async directory(rel: string): Promise<void> {
    this.directorySync(rel);
  }

  directorySync(rel: string): void {
    this.ensureDir(rel);
    this.directories += 1;
  }

  /**
   * Start a file whose bytes will be handed over synchronously (the tar extractor, which writes from
   * inside the parser's events). Small files are collected and written by one open/write/close at
   * end(); bigger ones are created now and written chunk by chunk. Same checks as file().
   */
  begin(rel: string, declared: number, executable: boolean): FileSink {
    this.rethrow();
    this.ensureDir(dirname(rel) === "." ? "" : dirname(rel));
    const target = this.pathOf(rel);
    const mode = executable ? 0o755 : 0o644;
    let size = 0;
    if (declared <= SMALL_FILE) {
      const chunks: Buffer[] = [];
      return {
        write: (chunk) => {
          size = this.accept(rel, declared, size, chunk.length);
          chunks.push(chunk);
        },
        end: () => {
          this.checkSize(rel, declared, size);
          this.writeWhole(target, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size), mode, rel);
        },
        abort: () => undefined,
      };
    }
    let fd: number | null = this.create(target, mode);
    const close = () => {
      if (fd !== null) closeSync(fd);
      fd = null;
    };
    return {
      write: (chunk) => {
        size = this.accept(rel, declared, size, chunk.length);
        writeAllSync(fd!, chunk, target);
      },
      end: () => {
        try {
          this.checkSize(rel, declared, size);
          if (!exact(mode)) fchmodSync(fd!, mode);
        } finally {
          close();
        }
        this.done();
      },
      abort: close,
    };
  }

  /**
   * Write one file. Small files are collected, then written by one open/write/close; bigger ones
   * stream chunk by chunk. With `detached`, small bodies are collected in the background (bounded in
   * number and bytes): only for readers whose bodies are independent of each other (zip).
   */
  async file(
    rel: string,
    body: AsyncIterable<Buffer>,
    declared: number,
    executable: boolean,
    detached = false,
  ): Promise<void> {
    this.rethrow();
    this.ensureDir(dirname(rel) === "." ? "" : dirname(rel));
    const target = this.pathOf(rel);
    // exact bits whatever the umask: 0755 or 0644, never setuid/sticky/world-writable
    const mode = executable ? 0o755 : 0o644;
    if (declared <= SMALL_FILE) {
      const collect = async () => {
        const chunks: Buffer[] = [];
        const size = await this.count(rel, declared, body, (c) => void chunks.push(c));
        this.checkSize(rel, declared, size);
        return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
      };
      if (detached)
        return this.schedule(async () => this.writeWhole(target, await collect(), mode, rel), declared);
      return this.writeWhole(target, await collect(), mode, rel);
    }
    const fd = this.create(target, mode);
    try {
      const size = await this.count(rel, declared, body, (c) => writeAllSync(fd, c, target));
      this.checkSize(rel, declared, size);
      if (!exact(mode)) fchmodSync(fd, mode);
    } finally {
      closeSync(fd);
    }
    this.done();
  }

  private done(): void {
    this.files += 1;
    // after the first file, every PROGRESS_EVERY_FILES files, and once more at the end (complete())
    if (this.files === 1 || this.files % PROGRESS_EVERY_FILES === 0) this.report();
  }

  /** The extraction succeeded: report the final count, if the last report did not have it. */
  complete(): void {
    if (this.reported !== this.files) this.report();
  }

  private report(): void {
    this.reported = this.files;
    this.onProgress?.({ files: this.files, bytes: this.bytes });
  }

  /** Wait for every body in flight; rethrow the first failure. Always call it, even after an error. */
  async finish(): Promise<void> {
    await Promise.allSettled([...this.pending]);
    if (this.failure) {
      await this.stopThread();
      this.rethrow();
    }
    await this.finishThread();
  }

  /** Too many bytes wait for the writing thread: the producer should wait for onDrain(). */
  get full(): boolean {
    return this.thread?.full ?? false;
  }

  /** Call `f` once the writing thread's queue has shrunk. */
  onDrain(f: () => void): void {
    if (this.thread) this.thread.onDrain(f);
    else f();
  }

  /** Wait for the writing thread to write everything queued; throw its first failure. */
  async finishThread(): Promise<void> {
    const failed = await this.thread?.finish();
    if (failed) throw threadError(failed);
  }

  /** Stop the writing thread after a failure; resolves once nothing is being written. */
  async stopThread(): Promise<void> {
    await this.thread?.stop();
  }

  /** After a failure: wait for the bodies in flight, stop the writing thread; never throws. */
  async abandon(): Promise<void> {
    await Promise.allSettled([...this.pending]);
    await this.stopThread();
  }

  private rethrow(): void {
    if (this.failure) throw this.failure;
    const failed = this.thread?.failed;
    if (failed) throw threadError(failed);
  }

  private async count(
    rel: string,
    declared: number,
    body: AsyncIterable<Buffer>,
    sink: (c: Buffer) => unknown,
  ): Promise<number> {
    let size = 0;
    for await (const chunk of body) {
      size = this.accept(rel, declared, size, chunk.length);
      sink(chunk);
    }
    return size;
  }

  /** Count `length` more real bytes of `rel` (which had `size`) against the caps; the new size. */
  private accept(rel: string, declared: number, size: number, length: number): number {
    const { maxEntryBytes, maxTotalBytes } = this.limits;
    size += length;
    this.bytes += length;
    // the readers already stop a lying header; this keeps a buffered "small" file small regardless
    if (size > declared) throw unsafe(rel, `holds more than the ${declared} bytes it declares`);
    if (size > maxEntryBytes) {
      throw tooLarge(rel, `holds more than ${maxEntryBytes} bytes (cap per entry)`, "maxEntryBytes", size);
    }
    if (this.bytes > maxTotalBytes) {
      throw tooLarge(
        rel,
        `archive holds more than ${maxTotalBytes} bytes in total`,
        "maxTotalBytes",
        this.bytes,
      );
    }
    return size;
  }

  private checkSize(rel: string, declared: number, size: number): void {
    if (size !== declared) throw unsafe(rel, `declares ${declared} bytes but holds ${size}`);
  }

  /**
   * The path of `rel` under the root. `rel` comes from the EntryChecker: components joined by "/",
   * none empty, "." or "..", no backslash, so plain concatenation is the join (path.join's
   * normalisation cost ~1 µs per file).
   */
  private pathOf(rel: string): string {
    return rel === "" ? this.root : `${this.rootSlash}${rel}`;
  }

  private ensureDir(rel: string): void {
    if (this.made.has(rel)) return;
    try {
      mkdirSync(this.pathOf(rel), { recursive: true, mode: 0o755 });
    } catch (err) {
      throw ioError(err, rel, "cannot create directory");
    }
    for (let d = rel; d !== "." && d !== ""; d = dirname(d)) this.made.add(d);
  }

  private create(target: string, mode: number): number {
    try {
      return openSync(target, CREATE_FLAGS, mode);
    } catch (err) {
      throw ioError(err, target, "cannot create");
    }
  }

  /** One open(O_EXCL|O_NOFOLLOW, mode)/write/close; fchmod only when the umask would have cut the mode. */
  private writeWhole(target: string, data: Buffer, mode: number, rel: string): void {
    if (this.threaded && !this.threadTried && this.files >= THREAD_AFTER_FILES) {
      this.threadTried = true;
      this.thread = WriteThread.open();
    }
    // until the thread has started, and for good if it never does, files are written here
    if (this.thread && !this.thread.ready && this.thread.gone) this.thread = null;
    if (this.thread?.ready) {
      const shared = this.thread.copy(data);
      const kept = this.kept;
      const keeps = kept?.keepOwned(rel, shared) ?? false;
      this.thread.write(target, shared, mode, !exact(mode), keeps ? (d) => kept!.setDigest(rel, d) : null);
      this.done();
      return;
    }
    const fd = this.create(target, mode);
    try {
      writeAllSync(fd, data, target);
      if (!exact(mode)) fchmodSync(fd, mode);
    } finally {
      closeSync(fd);
    }
    this.kept?.keep(rel, data);
    this.done();
  }

  /** Run `task` in the background once fewer than PARALLEL_BODIES tasks and BUFFERED_BYTES are in flight. */
  private async schedule(task: () => Promise<void>, bytes: number): Promise<void> {
    // the writing thread's queue is bounded too: wait while it is full
    while (this.full) await new Promise<void>((resolve) => this.onDrain(resolve));
    while (
      this.pending.size >= PARALLEL_BODIES ||
      (this.pending.size > 0 && this.inFlightBytes + bytes > BUFFERED_BYTES)
    ) {
      await Promise.race(this.pending);
    }
    this.rethrow();
    this.inFlightBytes += bytes;
    const p: Promise<void> = task()
      .catch((err) => {
        this.failure ??= err;
      })
      .finally(() => {
        this.inFlightBytes -= bytes;
        this.pending.delete(p);
      });
    this.pending.add(p);
  }
}
