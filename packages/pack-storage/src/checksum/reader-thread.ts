// A second thread that reads a tree's small files while the main thread hashes them.
//
// Hashing a tree of many small files is bound by system calls (open, fstat, read, close: ~14 µs per
// file here), not by SHA-256. The framed-v1 checksum is one hash over every file in order, so the
// hashing itself stays on one thread; the reading is what can run on a second core. The files to
// read are cut into chunks of CHUNK_FILES consecutive files; the helper thread and the main thread
// both claim chunks (an atomic counter) and read them into a ring of SLOTS shared buffers; the main
// thread hashes the chunks in order as they complete, and claims the next chunk itself whenever the
// one it needs is still being read. The helper also computes each file's own SHA-256 (the manifest).
//
// The helper is an optimisation and nothing depends on it. It skips any file it cannot read
// cleanly (an error, a size that changed, a link or special file, a file too big for the slot) and
// leaves it to the main thread, which reads it again with every check and error of the serial path.
// If the helper cannot start or dies, the main thread reads everything itself.
//
// The functions run on both threads: the helper's source is their text (Function#toString), so
// they must use only their parameters and globals (no imports, no module-level constants).
import type fs from "node:fs";
import type crypto from "node:crypto";
import type { Worker } from "node:worker_threads";

/** Shared-memory layout of one job: the ring of slots, per-file results and the control words. */
export interface Layout {
  slots: number;
  slotBytes: number;
  chunkFiles: number;
  wholeMax: number;
  /** SLOTS × slotBytes of file contents */
  data: Buffer;
  /** per slot, per file: bytes read into the slot, or -1 = not read (the main thread reads it) */
  sizes: Int32Array;
  /** per slot, per file: its SHA-256 (32 bytes) when digests were asked for */
  digests: Buffer;
  /** [0] next chunk to claim, [1] chunks consumed by the hasher, [2] stop, [4 + c] state of chunk c */
  ctl: Int32Array;
  /** [0] bytes written to destinations so far, by either thread (copies only; see CopyTask) */
  written: BigInt64Array;
}

export const CHUNK_STATE_OFFSET = 4;
/** chunk state: 0 pending, 1 claimed, DONE read (the shared functions write the literals) */
export const DONE = 2;

export interface LayoutSpec {
  slots: number;
  slotBytes: number;
  chunkFiles: number;
  wholeMax: number;
  chunks: number;
}

export function layoutBytes(s: LayoutSpec): number {
  return 8 + s.slots * s.slotBytes + s.slots * s.chunkFiles * (4 + 32) + 4 * (4 + s.chunks);
}

/** Views over a job's shared buffer (both threads build the same ones). */
export function layoutViews(sab: SharedArrayBuffer, s: LayoutSpec): Layout {
  // the 8-byte counter first (aligned), then the data (slot sizes are multiples of 8)
  const dataBytes = s.slots * s.slotBytes;
  const perFile = s.slots * s.chunkFiles;
  return {
    written: new BigInt64Array(sab, 0, 1),
    slots: s.slots,
    slotBytes: s.slotBytes,
    chunkFiles: s.chunkFiles,
    wholeMax: s.wholeMax,
    data: Buffer.from(sab, 8, dataBytes),
    sizes: new Int32Array(sab, 8 + dataBytes, perFile),
    digests: Buffer.from(sab, 8 + dataBytes + perFile * 4, perFile * 32),
    ctl: new Int32Array(sab, 8 + dataBytes + perFile * 36, 4 + s.chunks),
  };
}

/**
 * Claim the next chunk: its index; -1 when every chunk is taken or the job was stopped; -2 when
 * its slot still holds a chunk the hasher has not consumed.
 */
export function claimChunk(L: Layout, chunks: number): number {
  for (;;) {
    const n = Atomics.load(L.ctl, 0);
    if (n >= chunks || Atomics.load(L.ctl, 2) !== 0) return -1;
    if (n >= Atomics.load(L.ctl, 1) + L.slots) return -2;
    if (Atomics.compareExchange(L.ctl, 0, n, n + 1) === n) {
      Atomics.store(L.ctl, 4 + n, 1);
      return n;
    }
  }
}

/** What the threads do with the files of a job. */
export interface ChunkTask {
  /** absolute paths of the files, in hashing order */
  paths: string[];
  /** compute each file's SHA-256 too */
  withDigests: boolean;
  /** also write each file read to its destination (a copy that is hashed as it is made) */
  copy: CopyTask | null;
}

export interface CopyTask {
  /** where each file goes: created with O_EXCL, mode 0755 if any x bit is set, else 0644 */
  dests: string[];
  /** the process umask (a worker cannot read it): a mode it touches needs an explicit fchmod */
  umask: number;
  /** when set (a directory path ending in "/"), a source whose real path is elsewhere is left alone */
  confine: string;
  /** a file larger than this is left to the main thread (which refuses it) */
  maxEntryBytes: number;
  /**
   * Cap on the bytes written to destinations by both threads together (`written`): a file that
   * would pass it is left to the main thread, whose serial copies count against the same counter
   * (ParallelReads.reserveWrite), so nothing is ever written past the cap.
   */
  maxTotalBytes: number;
}

/**
 * Read chunk `c` of the task's files into its slot: each file opened without following links,
 * checked to be a regular file no bigger than wholeMax that fits in what is left of the slot,
 * read whole (one byte more is asked for, so growth is seen), copied to its destination when the
 * task is a copy, and its size recorded. Anything else is left to the main thread (size -1); a
 * destination created for a file that then failed is removed, so the main thread can create it.
 * Marks the chunk done.
 */
export function readChunk(
  fsm: typeof fs,
  cryptom: typeof crypto,
  L: Layout,
  c: number,
  task: ChunkTask,
): void {
  const slot = c % L.slots;
  const base = slot * L.slotBytes;
  const first = slot * L.chunkFiles;
  const start = c * L.chunkFiles;
  const end = Math.min(task.paths.length, start + L.chunkFiles);
  const k0 = fsm.constants;
  const readFlags = k0.O_RDONLY | k0.O_NOFOLLOW | k0.O_NONBLOCK;
  const writeFlags = k0.O_WRONLY | k0.O_CREAT | k0.O_EXCL | k0.O_NOFOLLOW;
  const copy = task.copy;
  // a descriptor is released even when close fails: callers forget it before closing
  const closeQuietly = (d: number) => {
    try {
      fsm.closeSync(d);
    } catch {
      // released anyway
    }
  };
  let off = 0;
  for (let i = start; i < end; i++) {
    const k = first + (i - start);
    L.sizes[k] = -1;
    if (Atomics.load(L.ctl, 2) !== 0) continue;
    let fd = -1;
    let out = -1;
    let created = false;
    try {
      fd = fsm.openSync(task.paths[i], readFlags);
      if (copy && copy.confine !== "" && !fsm.readlinkSync(`/proc/self/fd/${fd}`).startsWith(copy.confine))
        continue;
      const st = fsm.fstatSync(fd);
      const size = st.size;
      if (!st.isFile() || size > L.wholeMax || size + 1 > L.slotBytes - off) continue;
      if (copy && size > copy.maxEntryBytes) continue;
      // a hard link under local source roots: the serial path refuses it, naming it
      if (copy && copy.confine !== "" && st.nlink > 1) continue;
      const at = base + off;
      let got = 0;
      for (;;) {
        const n = fsm.readSync(fd, L.data, at + got, size + 1 - got, got);
        got += n;
        if (n === 0 || got >= size) break;
      }
      if (got !== size) continue;
      if (copy) {
        const big = BigInt(size);
        if (Atomics.add(L.written, 0, big) + big > BigInt(copy.maxTotalBytes)) {
          Atomics.sub(L.written, 0, big);
          continue;
        }
        const mode = st.mode & 0o111 ? 0o755 : 0o644;
        try {
          out = fsm.openSync(copy.dests[i], writeFlags, mode);
        } catch (err) {
          Atomics.sub(L.written, 0, big);
          throw err;
        }
        created = true;
        for (let w = 0; w < size;) w += fsm.writeSync(out, L.data, at + w, size - w);
        if (mode & copy.umask) fsm.fchmodSync(out, mode);
        // never close that number twice (see closeQuietly): this close's error is a failure
        const o = out;
        out = -1;
        fsm.closeSync(o);
      }
      if (task.withDigests) {
        // one-shot crypto.hash (Node >= 20.12) costs ~20% less than a Hash object per small file
        const view = L.data.subarray(at, at + size);
        const digest = cryptom.hash
          ? cryptom.hash("sha256", view, "buffer")
          : cryptom.createHash("sha256").update(view).digest();
        digest.copy(L.digests, k * 32);
      }
      L.sizes[k] = size;
      off += size;
    } catch {
      // left to the main thread, which reports the error properly
      if (out >= 0) closeQuietly(out);
      if (created && copy) {
        try {
          fsm.unlinkSync(copy.dests[i]);
        } catch {
          // the main thread's O_EXCL create will then fail and say so
        }
      }
    } finally {
      if (fd >= 0) closeQuietly(fd);
    }
  }
  Atomics.store(L.ctl, 4 + c, 2);
  Atomics.notify(L.ctl, 4 + c);
}

export interface Job {
  sab: SharedArrayBuffer;
  spec: LayoutSpec;
  /** the task, its path lists joined by NUL (one string is cloned to the thread far faster than an array) */
  paths: string;
  withDigests: boolean;
  copy: (Omit<CopyTask, "dests"> & { dests: string }) | null;
}

/** The helper thread's loop: for each job posted, claim and read chunks until none is left. */
function serve(
  port: { on(ev: "message", f: (job: Job) => void): void; postMessage(m: unknown): void },
  fsm: typeof fs,
  cryptom: typeof crypto,
  views: typeof layoutViews,
  claim: typeof claimChunk,
  read: typeof readChunk,
): void {
  port.on("message", (job) => {
    const L = views(job.sab, job.spec);
    // no object spread here: a lower build target would emit a helper the worker does not have
    const c0 = job.copy;
    const task = {
      paths: job.paths.split("\0"),
      withDigests: job.withDigests,
      copy: c0 && {
        dests: c0.dests.split("\0"),
        umask: c0.umask,
        confine: c0.confine,
        maxEntryBytes: c0.maxEntryBytes,
        maxTotalBytes: c0.maxTotalBytes,
      },
    };
    let files = 0;
    for (;;) {
      // read before claiming: if the hasher frees a slot in between, the wait below returns at once
      const consumed = Atomics.load(L.ctl, 1);
      const c = claim(L, job.spec.chunks);
      if (c === -1) break;
      if (c === -2) {
        // wait for the hasher to free a slot (it notifies word 1 after each chunk)
        Atomics.wait(L.ctl, 1, consumed, 20);
        continue;
      }
      read(fsm, cryptom, L, c, task);
      const first = (c % L.slots) * L.chunkFiles;
      const count = Math.min(L.chunkFiles, task.paths.length - c * L.chunkFiles);
      for (let k = first; k < first + count; k++) if (L.sizes[k] >= 0) files++;
    }
    port.postMessage({ idle: files });
  });
}

// process.getBuiltinModule, not require: an eval'd worker is an ES module when the process runs
// with --input-type=module, and then has no require
const SOURCE = `"use strict";
const fs = process.getBuiltinModule("node:fs");
const crypto = process.getBuiltinModule("node:crypto");
const { parentPort } = process.getBuiltinModule("node:worker_threads");
(${serve.toString()})(parentPort, fs, crypto, ${layoutViews.toString()}, ${claimChunk.toString()}, ${readChunk.toString()});
`;

/** Trees with fewer files to read than this are read on the main thread alone. */
export const HELPER_MIN_FILES = 1000;

/** One helper thread per process, started on first need and kept (unreferenced) for the next job. */
export class ReaderThread {
  private worker: Worker | null;
  private dead = false;
  private busy = false;
  private onIdle: (() => void)[] = [];
  private stopping = false;
  /** files the helper has read (or copied) cleanly over its life (for tests and diagnostics) */
  filesRead = 0;

  private constructor() {
    // loaded here, not imported: most commands never start a helper (worker_threads costs ~2 ms)
    const { Worker: WorkerClass } = process.getBuiltinModule("node:worker_threads");
    this.worker = new WorkerClass(SOURCE, { eval: true, stdout: false, stderr: false });
    this.worker.unref();
    // Node refs the worker's port again when it comes online: a helper started early (at 1,000 files
    // into a walk) that then got no job, because every file's bytes were known, kept the process
    // alive for ever after its work was done (`pack install` of a 1,000-file archive never exited)
    // (unless a job is running by then: start() refs it for the job, and the job's end unrefs it)
    this.worker.once("online", () => {
      if (!this.busy) this.worker?.unref();
    });
    this.worker.on("message", (m: { idle: number }) => {
      this.filesRead += m.idle;
      this.worker?.unref();
      this.release();
    });
    const die = () => {
      // a helper that fails by itself (not stopped by terminate()) is not started again in this
      // process: whatever broke it (say, instrumented code) would break the next one too
      if (!this.stopping) ReaderThread.broken = true;
      this.dead = true;
      this.worker = null;
      this.release();
    };
    this.worker.on("error", die);
    this.worker.on("exit", die);
  }

  /** Not busy any more: wake whoever waits for idle(). */
  release(): void {
    this.busy = false;
    const idle = this.onIdle;
    this.onIdle = [];
    idle.forEach((f) => f());
  }

  private static broken = false;

  private static shared: ReaderThread | null | undefined;

  /** Whether a helper may be used at all: `ATTUNE_IO_THREADS=0` turns it off. */
  static enabled(): boolean {
    return process.env.ATTUNE_IO_THREADS !== "0";
  }

  /** Start the helper now (if enabled and not running), so it has booted by the time it is needed. */
  static prestart(): void {
    if (!ReaderThread.enabled() || ReaderThread.broken) return;
    if (ReaderThread.shared && !ReaderThread.shared.dead) return;
    try {
      ReaderThread.shared = new ReaderThread();
    } catch {
      ReaderThread.shared = null; // no threads here: everything stays on the main thread
    }
  }

  /** The idle helper, or null (disabled, unavailable, dead, or busy with another job). */
  static acquire(): ReaderThread | null {
    ReaderThread.prestart();
    const h = ReaderThread.shared;
    if (!h || h.dead || h.busy || !h.worker) return null;
    h.busy = true;
    return h;
  }

  /** The process's helper, if one was started (tests and diagnostics). */
  static current(): ReaderThread | null {
    return ReaderThread.shared ?? null;
  }

  /** Resolves when the helper has finished its job at hand (or at once when it has none). */
  idle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.onIdle.push(resolve));
  }

  /** Stop the helper thread (a later job starts a new one). */
  async terminate(): Promise<void> {
    this.stopping = true;
    await this.worker?.terminate();
  }

  get alive(): boolean {
    return !this.dead;
  }

  /** Hand the helper a job (it claims chunks until none is left, then becomes idle again). */
  start(job: Job): void {
    if (!this.worker) return;
    this.worker.ref(); // keep the process alive while the main thread waits for its chunks
    this.worker.postMessage(job);
  }
}

/**
 * Diagnostics of the process's reader thread: whether one is running, the files it has read (or
 * copied) cleanly so far, and a promise that resolves once it is idle (counts are final only then).
 */
export function readerThreadStats(): { running: boolean; filesRead: number; idle: Promise<void> } {
  const h = ReaderThread.current();
  return { running: !!h && h.alive, filesRead: h?.filesRead ?? 0, idle: h ? h.idle() : Promise.resolve() };
}

/** Stop the process's reader thread, if one runs (a clean shutdown; a later job starts a new one). */
export async function stopReaderThread(): Promise<void> {
  await ReaderThread.current()?.terminate();
}
