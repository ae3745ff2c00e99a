// The main thread's side of the reader thread (reader-thread.ts): the files to read are consumed
// strictly in order; each chunk is read by whichever thread claimed it, and while the chunk the
// hasher needs next is still being read by the helper, the main thread claims and reads a later one.
import fs from "node:fs";
import crypto from "node:crypto";
import { WHOLE_FILE_MAX } from "./read";
import {
  claimChunk,
  CHUNK_STATE_OFFSET,
  DONE,
  HELPER_MIN_FILES,
  layoutBytes,
  layoutViews,
  readChunk,
  ReaderThread,
  type ChunkTask,
  type CopyTask,
  type Layout,
  type LayoutSpec,
} from "./reader-thread";

const SLOTS = 16;
const SLOT_BYTES = 2 * 1024 * 1024;
const CHUNK_FILES = 64;
// Atomics.waitAsync is in Node 20 (V8) but in TypeScript's lib only from es2024
type WaitAsync = (
  typed: Int32Array,
  index: number,
  value: number,
  timeoutMs: number,
) => { async: false; value: string } | { async: true; value: Promise<string> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

/** How long one wait for the helper lasts before the main thread looks again (ms). */
const WAIT_MS = 50;
/** Synchronous reading of chunks by the main thread before it returns to the event loop (ms). */
const SLICE_MS = 8;

/** Whether this system shows open descriptors' paths (the copy's confinement check needs it). */
let procFd: boolean | undefined;
function hasProcFd(): boolean {
  procFd ??= fs.existsSync("/proc/self/fd");
  return procFd;
}

/** One file's bytes as read by either thread, and its SHA-256 when digests were asked for. */
export interface ReadFile {
  bytes: Buffer;
  sha256: string | undefined;
}

export class ParallelReads {
  private readonly L: Layout;
  private readonly spec: LayoutSpec;
  private current = -1;
  private offset = 0;
  private last = -1;
  private closed = false;
  private sliceStart = 0;

  private constructor(
    private readonly task: ChunkTask,
    private readonly helper: ReaderThread,
  ) {
    const { paths, withDigests, copy } = task;
    this.spec = {
      slots: SLOTS,
      slotBytes: SLOT_BYTES,
      chunkFiles: CHUNK_FILES,
      wholeMax: WHOLE_FILE_MAX,
      chunks: Math.ceil(paths.length / CHUNK_FILES),
    };
    const sab = new SharedArrayBuffer(layoutBytes(this.spec));
    this.L = layoutViews(sab, this.spec);
    helper.start({
      sab,
      spec: this.spec,
      paths: paths.join("\0"),
      withDigests,
      copy: copy && { ...copy, dests: copy.dests.join("\0") },
    });
  }

  /**
   * Reads with a helper thread for these files (absolute paths, in hashing order), or null when
   * it is not worth it (too few files) or no helper is available: then read serially. With
   * `copy`, each file read is also written to its destination (see CopyTask).
   */
  static open(paths: string[], withDigests: boolean, copy: CopyTask | null = null): ParallelReads | null {
    if (paths.length < HELPER_MIN_FILES) return null;
    if (copy) {
      if (copy.dests.length !== paths.length) throw new Error("ParallelReads: one destination per path");
      if (copy.confine !== "" && !copy.confine.endsWith("/"))
        throw new Error("ParallelReads: confine must end with /");
      // without /proc the helper could not check confinement and would leave every file to us
      if (copy.confine !== "" && !hasProcFd()) return null;
    }
    const helper = ReaderThread.acquire();
    if (!helper) return null;
    try {
      return new ParallelReads({ paths, withDigests, copy }, helper);
    } catch {
      helper.release(); // e.g. no memory for the ring: read serially, and keep the helper usable
      return null;
    }
  }

  /**
   * Start the process's helper thread now, if it is not running, so that it has booted (~20 ms)
   * by the time a job needs it (e.g. once a walk has found HELPER_MIN_FILES files to copy).
   */
  static prestart(): void {
    ReaderThread.prestart();
  }

  /**
   * Resolves once the helper has stopped touching this job's files (after close(), it finishes the
   * file in hand): a caller that removes the destination tree on failure waits for this first.
   */
  settled(): Promise<void> {
    return this.helper.idle();
  }

  /**
   * Count `size` bytes the caller is about to write itself (the serial path of a copy) against
   * the copy's maxTotalBytes, together with what both threads have written; false (nothing
   * counted) when that would pass the cap.
   */
  reserveWrite(size: number): boolean {
    const cap = this.task.copy?.maxTotalBytes;
    const big = BigInt(size);
    const total = Atomics.add(this.L.written, 0, big) + big;
    if (cap === undefined || total <= BigInt(cap)) return true;
    Atomics.sub(this.L.written, 0, big);
    return false;
  }

  /** Bytes written to destinations so far by both threads and the serial path (copies only). */
  get writtenBytes(): number {
    return Number(Atomics.load(this.L.written, 0));
  }

  /**
   * File `j` (an index into the paths, taken in increasing order, each once): its bytes, or null
   * when neither thread read it cleanly and the caller must read it the serial way. A promise only
   * when the chunk holding it is still being read by the helper (or this thread must yield).
   */
  get(j: number): ReadFile | null | Promise<ReadFile | null> {
    // offsets within a chunk are a running sum: every index must come once, in order
    if (j !== this.last + 1) throw new Error(`ParallelReads: file ${j} asked for after ${this.last}`);
    this.last = j;
    const c = Math.floor(j / CHUNK_FILES);
    if (c !== this.current) {
      const pending = this.advance(c);
      if (pending) return pending.then(() => this.take(j));
    }
    return this.take(j);
  }

  /** Stop the helper's part of this job (it finishes the file at hand and goes idle). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.L.ctl, 2, 1);
    Atomics.notify(this.L.ctl, 1);
  }

  private take(j: number): ReadFile | null {
    const k = (this.current % SLOTS) * CHUNK_FILES + (j - this.current * CHUNK_FILES);
    const size = this.L.sizes[k];
    if (size < 0) return null;
    const at = (this.current % SLOTS) * SLOT_BYTES + this.offset;
    this.offset += size;
    return {
      bytes: this.L.data.subarray(at, at + size),
      sha256: this.task.withDigests ? this.L.digests.toString("hex", k * 32, k * 32 + 32) : undefined,
    };
  }

  /** Release the chunk in hand (its slot may be reused) and make chunk `c` the current one. */
  private advance(c: number): Promise<void> | undefined {
    if (this.current >= 0) {
      Atomics.store(this.L.ctl, 1, this.current + 1);
      Atomics.notify(this.L.ctl, 1);
    }
    this.current = c;
    this.offset = 0;
    this.sliceStart = performance.now();
    return this.step(c) ? undefined : this.waitFor(c);
  }

  /**
   * True once chunk `c` is done. Meanwhile this thread reads the chunks it can claim, for at most
   * SLICE_MS (then it returns false, so the caller yields to the event loop: a server stays
   * responsive); a chunk left in the hands of a dead helper is handed to the serial path.
   */
  private step(c: number): boolean {
    const state = CHUNK_STATE_OFFSET + c;
    for (;;) {
      if (Atomics.load(this.L.ctl, state) === DONE) return true;
      if (performance.now() - this.sliceStart >= SLICE_MS) return false;
      const mine = claimChunk(this.L, this.spec.chunks);
      if (mine >= 0) {
        readChunk(fs, crypto, this.L, mine, this.task);
        continue;
      }
      if (this.helper.alive) return false;
      this.takeOver(c);
      return true;
    }
  }

  /**
   * The helper died with chunk `c` in hand: every file of it goes to the serial path. Whatever the
   * helper may have created for it (whole or half written) is removed first, so the serial copy's
   * O_EXCL create finds the place free; only the helper could have created those files.
   */
  private takeOver(c: number): void {
    const first = c * CHUNK_FILES;
    const copy = this.task.copy;
    if (copy) {
      for (let i = first; i < Math.min(first + CHUNK_FILES, copy.dests.length); i++) {
        try {
          fs.unlinkSync(copy.dests[i]);
        } catch {
          // not created (ENOENT), or the serial copy's create will fail and say why
        }
      }
    }
    this.L.sizes.fill(-1, (c % SLOTS) * CHUNK_FILES, ((c % SLOTS) + 1) * CHUNK_FILES);
    Atomics.store(this.L.ctl, CHUNK_STATE_OFFSET + c, DONE);
  }

  private async waitFor(c: number): Promise<void> {
    const state = CHUNK_STATE_OFFSET + c;
    for (;;) {
      const seen = Atomics.load(this.L.ctl, state);
      if (seen !== DONE) {
        if (performance.now() - this.sliceStart >= SLICE_MS) await yieldTurn();
        else await this.waitChange(state, seen);
        this.sliceStart = performance.now();
      }
      if (this.step(c)) return;
    }
  }

  /**
   * Wait until word `state` changes from `seen`, at most WAIT_MS. A pending waitAsync does not
   * keep Node's event loop alive, so a timer does: should the helper die meanwhile, the process
   * must not exit with this wait unsettled (its exit event arrives while we wait).
   */
  private waitChange(state: number, seen: number): Promise<void> {
    const w = waitAsync(this.L.ctl, state, seen, WAIT_MS);
    if (!w.async) return yieldTurn();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, WAIT_MS);
      void w.value.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

function yieldTurn(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}
