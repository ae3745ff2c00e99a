import { closeSync, createReadStream, fstatSync, openSync, readSync } from "node:fs";
import type { Readable } from "node:stream";
import { createGunzip, type ZlibOptions } from "node:zlib";
import { Parser, type ReadEntry } from "tar";
import { AttuneError, ErrorCodes, ioError } from "@attune/pack-storage";
import type { ArchiveEntry } from "./entry-checker";
import { tooLarge, unsafe } from "./entry-checker";
import { NO_FOLLOW_FLAGS, notARegularFile } from "./detect";

export interface ReaderItem {
  entry: ArchiveEntry;
  /** the entry's bytes, for files; must be consumed (or left alone) before asking for the next item */
  body: AsyncIterable<Buffer> | null;
}

const FILE_TYPES = new Set(["File", "OldFile", "ContiguousFile"]);

/** Refuse a gzip stream that inflates to more than this many times the compressed bytes read so far. */
const MAX_RATIO = 1000;
/**
 * Bytes per read of the archive and per inflated chunk. Every chunk is a round trip through the
 * thread pool, which costs the main thread ~0.1 ms here: with zlib's default 16 KiB, the main
 * thread spent more time handing chunks over than node-tar's synchronous inflation took.
 */
const CHUNK = 256 * 1024;
/** Inflated bytes zlib may keep ready while the parser waits for the writer. */
const READ_AHEAD = 1024 * 1024;

function describe(e: ReadEntry): ArchiveEntry {
  const base = { name: e.path, mode: e.mode ?? 0, size: e.size ?? 0, rawType: e.type };
  if (FILE_TYPES.has(e.type)) return { ...base, kind: "file" };
  if (e.type === "Directory") return { ...base, kind: "directory", size: 0 };
  if (e.type === "SymbolicLink") return { ...base, kind: "symlink", linkTarget: e.linkpath };
  if (e.type === "Link") return { ...base, kind: "hardlink", linkTarget: e.linkpath };
  return { ...base, kind: "special" };
}

function ratioTooLarge(): AttuneError {
  return tooLarge(
    "(archive)",
    `decompresses to more than ${MAX_RATIO}x its size (a compression bomb)`,
    "ratio",
    MAX_RATIO,
  );
}

/** node-tar reports failures as plain errors with a `tarCode`; turn them into our codes. */
function translate(err: unknown, file: string): AttuneError {
  if (err instanceof AttuneError) return err;
  const e = err as Error & { tarCode?: string; code?: string };
  const message = e?.message ?? String(err);
  if (/decompression ratio/.test(message)) return ratioTooLarge();
  const what =
    e?.code?.startsWith("Z_") || /zlib|unexpected end/i.test(message)
      ? "corrupt or truncated gzip data"
      : "corrupt or truncated tar data";
  return new AttuneError(ErrorCodes.EUNSAFE_ARCHIVE, `${what}: ${message}`, {
    path: file,
    cause: err,
    details: { entry: null },
    hint: "the archive is damaged; download or rebuild it",
  });
}

/** Open the archive; `gzip` when it starts with the gzip magic bytes 1f 8b. */
function openArchive(file: string, noFollow: boolean): { fd: number; gzip: boolean } {
  let fd: number;
  try {
    fd = openSync(file, noFollow ? NO_FOLLOW_FLAGS : "r");
  } catch (err) {
    throw ioError(err, file, "cannot read archive");
  }
  try {
    if (noFollow && !fstatSync(fd).isFile()) throw notARegularFile(file);
    const head = Buffer.alloc(2);
    const n = readSync(fd, head, 0, 2, 0);
    return { fd, gzip: n === 2 && head[0] === 0x1f && head[1] === 0x8b };
  } catch (err) {
    closeSync(fd);
    throw ioError(err, file, "cannot read archive");
  }
}

/**
 * Inflate a gzip stream into `parser` with node:zlib's asynchronous gunzip, which runs on the thread
 * pool: inflating the next entries overlaps with writing this one on the main thread (node-tar's own
 * gunzip is synchronous, on the main thread). Its decompression-ratio guard is replaced by the same
 * one here: compressed bytes are counted as they are handed to the gunzip (it takes one chunk at a
 * time: its buffer is smaller than a chunk), inflated bytes as they come out, checked before they
 * reach the parser. A gzip inside the gzip is refused, as node-tar would have refused it before (it
 * only looks for compression at the very start of the stream it is given).
 */
function inflateInto(input: Readable, parser: Parser, fail: (err: unknown) => void): Readable {
  // zlib passes stream options on to its Transform; its typings only list the zlib ones
  const gunzip = createGunzip({ chunkSize: CHUNK, readableHighWaterMark: READ_AHEAD } as ZlibOptions);
  let compressed = 0;
  let inflated = 0;
  let head: Buffer | null = Buffer.alloc(0); // the first inflated bytes, until there are 2
  const stop = (err: unknown) => {
    fail(err);
    input.destroy();
    gunzip.destroy();
  };
  input.on("data", (chunk: Buffer) => (compressed += chunk.length));
  input.pipe(gunzip);
  gunzip.on("error", fail);
  gunzip.on("data", (chunk: Buffer) => {
    inflated += chunk.length;
    if (inflated > MAX_RATIO * compressed) return stop(ratioTooLarge());
    if (head) {
      chunk = head.length ? Buffer.concat([head, chunk]) : chunk;
      if (chunk.length < 2) {
        head = chunk;
        return;
      }
      head = null;
      if (chunk[0] === 0x1f && chunk[1] === 0x8b) {
        return stop(new Error("the gzip stream holds another gzip stream, not a tar archive"));
      }
    }
    if (!parser.write(chunk)) gunzip.pause();
  });
  parser.on("drain", () => gunzip.resume());
  gunzip.on("end", () => {
    if (head?.length) parser.write(head);
    parser.end();
  });
  return gunzip;
}

/**
 * Stream a tar or gzipped tar (gzip magic 1f 8b) entry by entry, in archive order. strict mode turns
 * node-tar's warnings (bad checksum, truncation) into errors, and entries of an unknown type, which
 * node-tar would silently skip, are refused. node-tar is given plain tar only, and told not to look
 * for zstd or brotli in it.
 */
export async function* readTar(
  file: string,
  signal?: AbortSignal,
  opts: { onRead?: (chunk: Buffer) => void; noFollow?: boolean } = {},
): AsyncGenerator<ReaderItem> {
  const parser = new Parser({ strict: true, zstd: false, brotli: false });
  const pending: ReadEntry[] = [];
  let failure: unknown = null;
  let finished = false;
  let current: ReadEntry | null = null;
  let wake: () => void = () => {};
  const fail = (err: unknown) => {
    failure ??= err;
    // a body that will never end must not leave the writer waiting forever
    // Minipass remembers an emitted error and hands it to any later reader, so the no-op listener
    // only keeps EventEmitter from throwing when nobody is reading at this instant
    if (current) poison(current);
    wake();
  };
  const poison = (e: ReadEntry) => e.on("error", () => undefined).emit("error", translate(failure, file));
  parser.on("entry", (e: ReadEntry) => {
    pending.push(e);
    wake();
  });
  parser.on("ignoredEntry", (e: ReadEntry) => fail(unsafe(e.path, `unsupported tar entry type "${e.type}"`)));
  parser.on("error", fail);
  parser.on("end", () => {
    finished = true;
    wake();
  });
  const { fd, gzip } = openArchive(file, Boolean(opts.noFollow));
  const input = createReadStream(file, { fd, start: 0, highWaterMark: CHUNK });
  input.on("error", fail);
  const { onRead } = opts;
  if (onRead) {
    // registered first: sees each chunk before it is passed on
    input.on("data", (chunk: string | Buffer) => {
      try {
        onRead(chunk as Buffer); // no encoding set: always a Buffer
      } catch (err) {
        fail(err);
        input.destroy();
      }
    });
  }
  const gunzip = gzip ? inflateInto(input, parser, fail) : null;
  if (!gunzip) input.pipe(parser as unknown as NodeJS.WritableStream);
  const onAbort = () =>
    fail(new AttuneError(ErrorCodes.EIO, "extraction aborted", { cause: signal?.reason }));
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    for (;;) {
      const next = pending.shift();
      if (next) {
        // headers parsed before a failure are still checked first, in archive order: a bomb is then
        // named by the entry whose declared size gives it away. Its body fails with the failure.
        if (failure) poison(next);
        current = next;
        const entry = describe(next);
        yield { entry, body: entry.kind === "file" ? next : null };
        next.resume(); // drain whatever the consumer left, so the parser moves on
        current = null;
        continue;
      }
      if (failure) throw translate(failure, file);
      if (finished) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
    gunzip?.destroy();
    input.destroy();
  }
}
