/** Bytes of written files kept for hashing by default: the `many` corpus (100 MB) keeps ~2/3. */
export const KEPT_BYTES = 64 * 1024 * 1024;

/**
 * The bytes of small files as they were written into a staging tree, kept (up to a byte budget) so
 * the installer can hash them without reading them back: an archive's order is not the checksum's,
 * so hashing cannot happen while extracting, and reading 20,000 files again costs ~0.3 s of system
 * calls. Paths are relative to the tree written. Memory stays bounded by the budget whatever the
 * archive (each kept file is copied, so no larger decompression buffer is held through it).
 */
export class KeptContents {
  private readonly files = new Map<string, Buffer>();
  private bytes = 0;

  constructor(readonly budget = KEPT_BYTES) {}

  /** Keep a copy of `data` as the content of `rel`, if the budget allows. */
  keep(rel: string, data: Buffer): void {
    if (this.bytes + data.length > this.budget) return;
    this.bytes += data.length;
    this.files.set(rel, Buffer.from(data));
  }

  get(rel: string): Buffer | undefined {
    return this.files.get(rel);
  }

  get size(): number {
    return this.files.size;
  }
}
