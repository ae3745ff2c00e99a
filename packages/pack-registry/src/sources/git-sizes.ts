// The size of a git blob from the repository's own bookkeeping, without inflating its content:
// a clone that checks out a 200 MiB blob of zeros (224 KB on the wire) must be refused before a
// byte of it is written or held in memory. Packed objects carry their size in the pack entry's
// header; a delta's result size is the second number at the start of its (inflated) delta data, so
// only a few bytes of it are inflated. Loose objects start with "blob <size>\0" once inflated.
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";

const OBJ_OFS_DELTA = 6;
const OBJ_REF_DELTA = 7;
/**
 * Compressed bytes inflated to read a delta's or a loose object's header: enough for a deflate
 * block header and the first bytes, and at most ~0.5 MB out even for a run of zeros.
 */
const HEAD_BYTES = 512;

interface PackIndex {
  pack: string;
  /** the whole .idx file (version 2) */
  idx: Buffer;
  count: number;
}

/**
 * Every pack index of the repository at `gitdir`, read as they are: looked up by binary search
 * (offsetOf), not loaded into a map, so a large repository (a publisher's own, for
 * `buildIndexEntry`) costs its .idx files' bytes and nothing more.
 */
function readIndexes(gitdir: string): PackIndex[] {
  const dir = path.join(gitdir, "objects", "pack");
  const names = fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.endsWith(".idx")) : [];
  return names.map((name) => {
    const idx = fs.readFileSync(path.join(dir, name));
    // version 2: ff 74 4f 63, 00 00 00 02, fan-out[256], ids, CRCs, 4-byte offsets, 8-byte offsets
    if (idx.length < 8 + 256 * 4 || idx.readUInt32BE(0) !== 0xff744f63 || idx.readUInt32BE(4) !== 2)
      throw new Error(`${name}: not a version 2 pack index`);
    const count = idx.readUInt32BE(8 + 255 * 4);
    if (idx.length < 8 + 256 * 4 + count * 28) throw new Error(`${name}: the pack index is cut short`);
    return { pack: path.join(dir, name.replace(/\.idx$/, ".pack")), idx, count };
  });
}

/** The offset of `oid` in the pack of `index`, or undefined when that pack does not hold it. */
function offsetOf({ idx, count }: PackIndex, oid: string): number | undefined {
  const want = Buffer.from(oid, "hex");
  if (want.length !== 20) return undefined;
  const ids = 8 + 256 * 4;
  // the fan-out table: how many ids start with a byte up to each value
  let lo = want[0] === 0 ? 0 : idx.readUInt32BE(8 + (want[0] - 1) * 4);
  let hi = idx.readUInt32BE(8 + want[0] * 4);
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = idx.compare(want, 0, 20, ids + mid * 20, ids + mid * 20 + 20);
    if (c === 0) {
      const small = ids + count * 20 + count * 4;
      const v = idx.readUInt32BE(small + mid * 4);
      return v & 0x80000000 ? Number(idx.readBigUInt64BE(small + count * 4 + (v & 0x7fffffff) * 8)) : v;
    }
    // compare(target, …) says how the slice of idx sorts against `want`
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return undefined;
}

/** Output kept from one partial inflate: far more than two size varints need. */
const MAX_HEAD_OUT = 64 * 1024;
/** A delta whose first bytes do not come out of this much compressed data is not one git writes. */
const MAX_HEAD_IN = 1024 * 1024;

/**
 * The first output bytes of the zlib stream at the start of `data` (read by `more(n)`, n bytes
 * from there), enough for `enough` (or all there is when the file ends first). Deflate can put any
 * number of empty blocks first, so the window of compressed bytes grows until they come out; the
 * output is capped (a window that gives too much is halved back), so nothing large is ever
 * inflated. Null when they never come.
 */
function inflateHead(more: (n: number) => Buffer, enough: (out: Buffer) => boolean): Buffer | null {
  let lo = 0; // a window known to give too little
  let n = HEAD_BYTES;
  for (let step = 0; step < 64; step++) {
    const input = more(n);
    let out: Buffer | null;
    try {
      out = zlib.inflateSync(input, {
        finishFlush: zlib.constants.Z_SYNC_FLUSH,
        maxOutputLength: MAX_HEAD_OUT,
      });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ERR_BUFFER_TOO_LARGE") return null; // corrupt
      out = null; // too much at once: look at a smaller window
    }
    if (out && (enough(out) || input.length < n)) return out; // the caller judges a short one
    if (out) {
      if (n >= MAX_HEAD_IN) return null; // megabytes of nothing: not a stream git writes
      lo = n;
      n = Math.min(n * 4, MAX_HEAD_IN);
    } else n = lo + Math.max(1, (n - lo) >> 1);
  }
  return null;
}

/** A size varint of a delta header; null when the bytes end first. */
function varint(buf: Buffer, at: number): { value: number; next: number } | null {
  let value = 0;
  let shift = 0;
  for (let i = at; i < buf.length && shift < 64;) {
    const c = buf[i++];
    value += (c & 0x7f) * 2 ** shift;
    shift += 7;
    if (!(c & 0x80)) return { value, next: i };
  }
  return null;
}

/** The two sizes at the start of a delta's data: its base's, then its result's; null when cut short. */
function deltaResultSize(delta: Buffer): number | null {
  const base = varint(delta, 0);
  return (base && varint(delta, base.next)?.value) ?? null;
}

/**
 * A pack entry's header at `at`: the object type, the size it declares (a delta's: of its delta
 * data) and where its zlib data starts (after a delta's base: a backwards offset in its own varint
 * form, or the base's 20-byte id).
 */
function entryHeader(buf: Buffer, at: number): { type: number; size: number; data: number } {
  let i = at;
  // type and size: 3 bits and 4 bits in the first byte, then 7 bits per byte while the top bit is set
  let c = buf[i++];
  const type = (c >> 4) & 7;
  let size = c & 15;
  let shift = 4;
  while (c & 0x80) {
    c = buf[i++];
    size += (c & 0x7f) * 2 ** shift;
    shift += 7;
  }
  if (type === OBJ_OFS_DELTA) while (buf[i++] & 0x80);
  else if (type === OBJ_REF_DELTA) i += 20;
  return { type, size, data: i };
}

const isDelta = (type: number) => type === OBJ_OFS_DELTA || type === OBJ_REF_DELTA;

function readAt(fd: number, offset: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  const n = fs.readSync(fd, buf, 0, length, offset);
  return buf.subarray(0, n);
}

/**
 * Sizes of blobs by object id, read from the repository's packs and loose objects without
 * inflating their contents. Throws when an object cannot be found or read (the caller refuses).
 */
export class GitBlobSizes {
  private readonly indexes: PackIndex[];
  private readonly fds = new Map<string, number>();

  constructor(private readonly gitdir: string) {
    this.indexes = readIndexes(gitdir);
  }

  size(oid: string): number {
    for (const index of this.indexes) {
      const offset = offsetOf(index, oid);
      if (offset !== undefined) return this.packedSize(index.pack, offset);
    }
    return this.looseSize(oid);
  }

  close(): void {
    for (const fd of this.fds.values()) fs.closeSync(fd);
    this.fds.clear();
  }

  private packedSize(pack: string, offset: number): number {
    let fd = this.fds.get(pack);
    if (fd === undefined) {
      fd = fs.openSync(pack, "r");
      this.fds.set(pack, fd);
    }
    const { type, size, data } = entryHeader(readAt(fd, offset, 64), 0);
    if (!isDelta(type)) return size;
    const delta = inflateHead(
      (n) => readAt(fd, offset + data, n),
      (out) => deltaResultSize(out) !== null,
    );
    const result = delta && deltaResultSize(delta);
    if (result === null)
      throw new Error(`object at ${offset} in ${path.basename(pack)}: unreadable delta header`);
    return result;
  }

  private looseSize(oid: string): number {
    const file = path.join(this.gitdir, "objects", oid.slice(0, 2), oid.slice(2));
    const fd = fs.openSync(file, "r");
    try {
      const out = inflateHead(
        (n) => readAt(fd, 0, n),
        (o) => o.includes(0),
      );
      const head = out ? out.toString("latin1") : "";
      const m = /^[a-z]+ (\d+)\0/.exec(head);
      if (!m) throw new Error(`object ${oid}: unreadable header`);
      return Number(m[1]);
    } finally {
      fs.closeSync(fd);
    }
  }
}

/**
 * The pack carried by a smart-HTTP `git-upload-pack` response: side-band channel 1 of its
 * pkt-lines (or, without side-band, everything from the "PACK" signature on). Null when there is
 * none (e.g. an error answer).
 */
export function packOfUploadPack(body: Buffer): Buffer | null {
  const parts: Buffer[] = [];
  let i = 0;
  while (i + 4 <= body.length) {
    const head = body.toString("latin1", i, i + 4);
    if (head === "PACK") return Buffer.concat([...parts, body.subarray(i)]);
    if (!/^[0-9a-f]{4}$/.test(head)) return null;
    const len = parseInt(head, 16);
    if (len < 4) {
      i += 4; // flush, delimiter, response end
      continue;
    }
    const payload = body.subarray(i + 4, i + len);
    if (payload[0] === 1) parts.push(payload.subarray(1));
    i += len;
  }
  return parts.length > 0 ? Buffer.concat(parts) : null;
}

/** Thrown by scanPack for an object over the cap: how big it claims or turned out to be. */
export class PackObjectTooLarge extends Error {
  constructor(readonly size: number) {
    super(`the repository holds an object of more than ${size} bytes`);
  }
}

/**
 * Walk every object of a received pack before anything else inflates it: an object (or the result
 * of a delta) larger than `maxObjectBytes` throws PackObjectTooLarge, and no inflation here ever
 * produces more than that many bytes, whatever the headers say. A pack that cannot be walked
 * throws a plain Error.
 */
export function scanPack(pack: Buffer, maxObjectBytes: number): void {
  if (pack.length < 12 || pack.toString("latin1", 0, 4) !== "PACK") throw new Error("not a git pack");
  const count = pack.readUInt32BE(8);
  let pos = 12;
  for (let n = 0; n < count; n++) {
    if (pos >= pack.length) throw new Error("the pack ends early");
    const { type, size, data } = entryHeader(pack, pos);
    pos = data;
    const delta = isDelta(type);
    if (!delta && size > maxObjectBytes) throw new PackObjectTooLarge(size);
    let inflated: { buffer: Buffer; engine: { bytesWritten: number } };
    try {
      // a delta's instructions are about as long as what they insert: bounded the same way
      inflated = zlib.inflateSync(pack.subarray(pos), {
        info: true,
        maxOutputLength: delta ? 2 * maxObjectBytes + 64 : Math.max(size, 1),
      }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE")
        throw new PackObjectTooLarge(maxObjectBytes);
      throw new Error(`object ${n} of the pack is not valid zlib data`);
    }
    if (delta) {
      const result = deltaResultSize(inflated.buffer);
      if (result === null) throw new Error(`object ${n} of the pack: unreadable delta header`);
      if (result > maxObjectBytes) throw new PackObjectTooLarge(result);
    } else if (inflated.buffer.length !== size)
      throw new Error(`object ${n} of the pack: its size is not the one declared`);
    pos += inflated.engine.bytesWritten;
  }
}
