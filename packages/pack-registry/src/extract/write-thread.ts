// A second thread that creates the small files of an extraction while the main thread parses.
//
// Extracting an archive of many small files is three streams of work: inflating (zlib, on the thread
// pool), parsing and checking every entry (the main thread), and creating each file (open, write,
// close: ~20 µs of system calls per file). GNU tar runs the first in a separate gzip process and
// the other two in its own; here the main thread did both parsing and writing, and its system
// calls were half of its time. This thread takes the writing: the main thread copies each small
// file's bytes once into a shared slab (the same copy the installer keeps for hashing, so nothing is
// copied twice), and posts batches of (path, mode, slab, offset, length); the thread creates the
// files with the same flags as the main thread would (O_CREAT|O_EXCL|O_NOFOLLOW, the final mode)
// and answers each batch. Directories are still made by the main thread before a file inside them
// is posted, so every parent exists when the thread opens a file.
//
// Nothing depends on the thread: when it cannot start (or `ATTUNE_IO_THREADS=0`), the writer
// writes on the main thread as before. The first failure stops it (the batches after are answered
// unwritten), and the extraction fails with that error once every batch is answered, so nothing is
// being written when the caller removes the work directory.
//
// The thread's source is the text below (no imports: it runs as an eval'd script).
import { CREATE_FLAGS } from "../open-flags";
import type { Worker } from "node:worker_threads";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

const SOURCE = `
const fs = process.getBuiltinModule("node:fs");
const crypto = process.getBuiltinModule("node:crypto");
const { parentPort } = process.getBuiltinModule("node:worker_threads");
let failed = false;
parentPort.on("message", (m) => {
  let error = null;
  let written = 0;
  const views = m.slabs.map((s) => Buffer.from(s));
  const meta = m.meta;
  const n = m.targets.length;
  // the SHA-256 of each file asked for (flag), in hex (converted here, off the main thread)
  const digests = new Array(n).fill("");
  for (let i = 0; i < n && !failed; i++) {
    if (Atomics.load(m.stop, 0) !== 0) { failed = true; break; }
    const target = m.targets[i];
    const k = 6 * i;
    const mode = meta[k], flags = meta[k + 1], slab = views[meta[k + 2]];
    const offset = meta[k + 3], length = meta[k + 4];
    let fd = -1, step = "cannot create";
    try {
      fd = fs.openSync(target, m.flags, mode);
      step = "cannot write";
      for (let done = 0; done < length; ) done += fs.writeSync(fd, slab, offset + done, length - done);
      if (flags & 1) fs.fchmodSync(fd, mode);
    } catch (err) {
      failed = true;
      error = { code: err && err.code, message: String(err && err.message), target, step };
    } finally {
      if (fd >= 0) { try { fs.closeSync(fd); } catch {} }
    }
    if (failed) break;
    written++;
    if (flags & 2) digests[i] = crypto.createHash("sha256").update(slab.subarray(offset, offset + length)).digest("hex");
  }
  parentPort.postMessage({ id: m.id, error, written, digests });
});
parentPort.postMessage({ ready: true });
`;

/** Bytes per shared slab that file contents are copied into. */
const SLAB_BYTES = 4 * 1024 * 1024;
/** Files per message to the thread. */
const BATCH_FILES = 64;
/** Bytes per message to the thread (posted sooner when reached). */
const BATCH_BYTES = 1024 * 1024;
/** Bytes posted and not yet written before the writer reports itself full (the parser waits). */
const MAX_QUEUED_BYTES = 16 * 1024 * 1024;

/** A failure of the thread: the system error of the file it could not write. */
export interface WriteFailure {
  code?: string;
  message: string;
  target: string;
  /** "cannot create" or "cannot write" */
  step: string;
}

interface Batch {
  targets: string[];
  meta: number[];
  slabs: SharedArrayBuffer[];
  bytes: number;
  /** per file: who wants its SHA-256 (null: nobody) */
  digested: (((sha256: string) => void) | null)[];
}

interface Pending {
  bytes: number;
  digested: Batch["digested"];
}

let broken = false;
/** Writing threads alive in this process (concurrent API installs): one per core is plenty. */
let live = 0;
const MAX_LIVE = 2;

export class WriteThread {
  /** Files written by writing threads in this process so far (diagnostics and tests). */
  static filesWritten = 0;
  /** The bound on bytes posted and not yet written (MAX_QUEUED_BYTES; tests lower it). */
  static maxQueuedBytes = MAX_QUEUED_BYTES;
  /** The most bytes ever waiting for a writing thread in this process (diagnostics and tests). */
  static peakQueuedBytes = 0;

  /**
   * The thread has started and listens (its first message). Nothing is posted before: until then
   * the caller writes on its own thread, so a thread that fails to start loses no batch.
   */
  ready = false;

  private readonly worker: Worker;
  private readonly stopFlag = new Int32Array(new SharedArrayBuffer(4));
  private slab: Buffer | null = null;
  private used = 0;
  private batch: Batch | null = null;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>(); // by batch id
  private queuedBytes = 0;
  private failure: WriteFailure | null = null;
  private dead = false;
  /** terminate() was called by us: its exit is no failure */
  private stopping = false;
  private waiters: (() => void)[] = [];
  private drainers: (() => void)[] = [];

  /** Writing threads alive in this process, and whether one failed to start (diagnostics, tests). */
  static stats(): { live: number; broken: boolean } {
    return { live, broken };
  }

  /** Whether extraction may use a thread: `ATTUNE_IO_THREADS=0` turns it off. */
  static enabled(): boolean {
    return process.env.ATTUNE_IO_THREADS !== "0" && !broken;
  }

  /**
   * A new thread for one extraction, or null (disabled, unavailable, or MAX_LIVE threads already
   * writing for other extractions: write on the main thread).
   */
  static open(): WriteThread | null {
    if (!WriteThread.enabled() || live >= MAX_LIVE) return null;
    try {
      return new WriteThread();
    } catch {
      broken = true;
      return null;
    }
  }

  private constructor() {
    const { Worker: WorkerClass } = require("node:worker_threads") as typeof import("node:worker_threads");
    this.worker = new WorkerClass(SOURCE, { eval: true, stdout: false, stderr: false });
    // the thread keeps the process alive only while it has batches to write (so one that is never
    // finished, after an unexpected failure, cannot hang the process); Node refs it again when it
    // comes online
    this.worker.unref();
    this.worker.once("online", () => {
      if (this.pending.size === 0) this.worker.unref();
    });
    live += 1;
    this.worker.on(
      "message",
      (
        m: { ready: true } | { id: number; error: WriteFailure | null; written: number; digests: string[] },
      ) => {
        if ("ready" in m) {
          this.ready = true;
          return;
        }
        this.failure ??= m.error;
        WriteThread.filesWritten += m.written;
        const p = this.pending.get(m.id);
        if (p) {
          // only the files written (the first `written`; after a failure or a stop, none or some)
          for (let i = 0; i < m.written; i++) p.digested[i]?.(m.digests[i]);
        }
        this.settle(m.id);
      },
    );
    const die = (err?: unknown) => {
      if (this.dead) return;
      this.dead = true;
      live -= 1;
      // one that failed to start (an error before its first message, or an exit nobody asked for)
      // will not start next time either, whatever stopped it (say memory limits): later extractions
      // write on the main thread; this one was never given a batch. (`err`: an 'error' event; it may
      // come from another realm, so no instanceof.)
      const reason = err === undefined ? "" : String((err as { message?: unknown } | null)?.message ?? err);
      if (!this.ready && (err !== undefined || !this.stopping)) broken = true;
      if (this.pending.size > 0 || (this.ready && err !== undefined)) {
        this.failure ??= {
          message: `the writing thread stopped${reason ? `: ${reason}` : ""}`,
          target: "(archive)",
          step: "cannot write",
        };
      }
      for (const id of [...this.pending.keys()]) this.settle(id);
    };
    this.worker.on("error", die);
    this.worker.on("exit", () => die());
  }

  private settle(id: number): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    this.queuedBytes -= p.bytes;
    if (this.queuedBytes <= WriteThread.maxQueuedBytes / 2 || this.failure) {
      const drainers = this.drainers;
      this.drainers = [];
      drainers.forEach((f) => f());
    }
    if (this.pending.size === 0) {
      if (!this.dead) this.worker.unref();
      const waiters = this.waiters;
      this.waiters = [];
      waiters.forEach((f) => f());
    }
  }

  /** The first failure of the thread, if any (the batches after it were not written). */
  get failed(): WriteFailure | null {
    return this.failure;
  }

  /** The thread is gone (stopped, failed, or never started). */
  get gone(): boolean {
    return this.dead;
  }

  /** Too many bytes wait for the thread: the producer should wait for onDrain(). */
  get full(): boolean {
    return this.queuedBytes >= WriteThread.maxQueuedBytes && !this.failure && !this.dead;
  }

  /** Call `f` once the queue has shrunk (or the thread failed). */
  onDrain(f: () => void): void {
    if (!this.full) f();
    else this.drainers.push(f);
  }

  /**
   * Copy `data` into shared memory (a slab that both threads see) and return the copy: it is what
   * write() takes, and it stays valid (and unchanged) for as long as it is referenced.
   */
  copy(data: Buffer): Buffer {
    if (!this.slab || this.slab.length - this.used < data.length) {
      this.slab = Buffer.from(new SharedArrayBuffer(Math.max(SLAB_BYTES, data.length)));
      this.used = 0;
    }
    const at = this.used;
    data.copy(this.slab, at);
    // keep later copies 8-byte aligned
    this.used += (data.length + 7) & ~7;
    return this.slab.subarray(at, at + data.length);
  }

  /**
   * Queue the creation of `target` with the bytes of `shared` (from copy()); `digested`, if given,
   * is called with the bytes' SHA-256 (lowercase hex) once the file is written.
   */
  write(
    target: string,
    shared: Buffer,
    mode: number,
    chmod: boolean,
    digested: ((sha256: string) => void) | null = null,
  ): void {
    const sab = shared.buffer as SharedArrayBuffer;
    const b = (this.batch ??= { targets: [], meta: [], slabs: [], bytes: 0, digested: [] });
    let slab = b.slabs.indexOf(sab);
    if (slab < 0) slab = b.slabs.push(sab) - 1;
    b.targets.push(target);
    b.meta.push(mode, (chmod ? 1 : 0) | (digested ? 2 : 0), slab, shared.byteOffset, shared.length, 0);
    b.digested.push(digested);
    b.bytes += shared.length;
    if (b.targets.length >= BATCH_FILES || b.bytes >= BATCH_BYTES) this.flush();
  }

  /** Post the batch being filled. */
  flush(): void {
    const b = this.batch;
    this.batch = null;
    if (!b) return;
    if (this.dead) {
      this.failure ??= { message: "the writing thread stopped", target: b.targets[0], step: "cannot write" };
      return;
    }
    const id = this.nextId++;
    if (this.pending.size === 0) this.worker.ref();
    this.pending.set(id, { bytes: b.bytes, digested: b.digested });
    this.queuedBytes += b.bytes;
    WriteThread.peakQueuedBytes = Math.max(WriteThread.peakQueuedBytes, this.queuedBytes);
    const { targets, meta, slabs } = b;
    this.worker.postMessage({ id, flags: CREATE_FLAGS, stop: this.stopFlag, targets, meta, slabs });
  }

  /** Wait until every batch posted so far has been answered. */
  private settled(): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Post what is queued and wait for all of it to be written; the first failure, or null. */
  async finish(): Promise<WriteFailure | null> {
    this.flush();
    await this.settled();
    this.stopping = true;
    void this.worker.terminate();
    return this.failure;
  }

  /** Stop writing (the batches not started are skipped) and wait until the thread is idle. */
  async stop(): Promise<void> {
    this.batch = null;
    Atomics.store(this.stopFlag, 0, 1);
    await this.settled();
    this.stopping = true;
    void this.worker.terminate();
  }
}
