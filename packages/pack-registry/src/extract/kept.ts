/**
 * Bytes of written files one fetch keeps for hashing: all of the `many` corpus (100 MB), whose
 * install then reads nothing back (with 64 MiB, a third of it was read back from disk).
 */
export const KEPT_BYTES = 128 * 1024 * 1024;
/** Bytes kept by all fetches of this process together (concurrent API installs share them). */
export const PROCESS_KEPT_BYTES = 192 * 1024 * 1024;

let processKept = 0;
// a fetch whose caller never called release() gives its share back when it is collected
const unreleased = new FinalizationRegistry<{ bytes: number }>((share) => {
  processKept -= share.bytes;
});

const EMPTY = Buffer.alloc(0);

/** Kept bytes are copied into slabs of this size (one allocation per few hundred small files). */
const SLAB_BYTES = 4 * 1024 * 1024;

/**
 * The bytes of small files as they were written into a staging tree, kept (up to a byte budget per
 * fetch and one per process) so the installer can hash them without reading them back: an
 * archive's order is not the checksum's, so hashing cannot happen while extracting, and reading
 * 20,000 files again costs ~0.3 s of system calls. Paths are relative to the tree written. Each kept
 * file is copied (into 4 MiB slabs, so a few hundred files share one allocation), so no larger
 * decompression buffer is held through it. Call `release()` once the tree is hashed (or the install
 * failed).
 */
export class KeptContents {
  private readonly files = new Map<string, Buffer>();
  private readonly digests = new Map<string, string>();
  /** the slabs of the buffers kept by keepOwned() (each counted once against the budgets) */
  private readonly owned = new Set<ArrayBufferLike>();
  private readonly share = { bytes: 0 };
  private slab: Buffer | null = null;
  private used = 0;

  constructor(readonly budget = KEPT_BYTES) {
    unreleased.register(this, this.share, this);
  }

  /** Keep a copy of `data` as the content of `rel`, if both budgets allow. */
  keep(rel: string, data: Buffer): void {
    if (this.share.bytes + data.length > this.budget) return;
    if (processKept + data.length > PROCESS_KEPT_BYTES) return;
    this.share.bytes += data.length;
    processKept += data.length;
    this.files.set(rel, this.copy(data));
  }

  /**
   * Keep `data` itself as the content of `rel` (no copy), if both budgets allow: for a buffer that
   * is already a private copy nobody changes (the writing thread's shared slabs).
   */
  keepOwned(rel: string, data: Buffer): boolean {
    // a view keeps its whole slab alive: each slab counts once, in full, against the budgets (an
    // empty file holds no slab at all)
    if (data.length === 0) data = EMPTY;
    const cost = data.length === 0 || this.owned.has(data.buffer) ? 0 : data.buffer.byteLength;
    if (this.share.bytes + cost > this.budget) return false;
    if (processKept + cost > PROCESS_KEPT_BYTES) return false;
    if (cost > 0) this.owned.add(data.buffer);
    this.share.bytes += cost;
    processKept += cost;
    this.files.set(rel, data);
    return true;
  }

  /** Record the SHA-256 (lowercase hex) of a kept file's bytes (computed where they were written). */
  setDigest(rel: string, sha256: string): void {
    if (this.files.has(rel)) this.digests.set(rel, sha256);
  }

  /** The SHA-256 (hex) of a kept file's bytes, when it was recorded. */
  digest(rel: string): string | undefined {
    return this.digests.get(rel);
  }

  /** A private copy of `data`, carved out of the current slab (a new one when it is full). */
  private copy(data: Buffer): Buffer {
    if (!this.slab || this.slab.length - this.used < data.length) {
      this.slab = Buffer.allocUnsafeSlow(Math.max(SLAB_BYTES, data.length));
      this.used = 0;
    }
    const at = this.used;
    data.copy(this.slab, at);
    this.used += data.length;
    return this.slab.subarray(at, at + data.length);
  }

  get(rel: string): Buffer | undefined {
    return this.files.get(rel);
  }

  get size(): number {
    return this.files.size;
  }

  /** Drop everything kept and give the bytes back to the process budget (idempotent). */
  release(): void {
    processKept -= this.share.bytes;
    this.share.bytes = 0;
    this.files.clear();
    this.digests.clear();
    this.owned.clear();
    this.slab = null;
    unreleased.unregister(this);
  }

  /** Bytes kept by all live fetches of this process (for tests and diagnostics). */
  static processBytes(): number {
    return processKept;
  }
}
