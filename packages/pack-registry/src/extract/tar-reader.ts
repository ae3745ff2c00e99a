import { closeSync, createReadStream, fstatSync, openSync, readSync } from "node:fs";
import type { Readable } from "node:stream";
import { createGunzip, type ZlibOptions } from "node:zlib";
import type { Parser, ReadEntry } from "tar";
import { loadTar } from "../lazy";
import type { KeptContents } from "./kept";
import { AttuneError, ErrorCodes, ioError } from "@attune/pack-storage";
import type { ArchiveEntry } from "./entry-checker";
import { EntryChecker, tooLarge, unsafe } from "./entry-checker";
import { notARegularFile } from "./detect";
import { NO_FOLLOW_FLAGS } from "../open-flags";
import type { ExtractLimits } from "./limits";
import { TreeWriter, type FileSink } from "./writer";

/** One entry from a reader that yields entries (zip): its bytes must be consumed before the next. */
export interface ReaderItem {
  entry: ArchiveEntry;
  /** the entry's bytes, for files; must be consumed (or left alone) before asking for the next item */
  body: AsyncIterable<Buffer> | null;
}

const FILE_TYPES = new Set(["File", "OldFile", "ContiguousFile"]);

/** Refuse a gzip stream that inflates to more than this many times the compressed bytes read so far. */
const MAX_RATIO = 1000;
/**
 * Bytes per read of the archive (and per piece handed to the inflater). Every chunk is a round trip
 * through the thread pool, which costs the main thread ~0.1 ms here: with zlib's default 16 KiB, the
 * main thread spent more time handing chunks over than node-tar's synchronous inflation took, and
 * 1 MiB extracts the `many` pack ~7% faster than 256 KiB did (in process, interleaved runs).
 */
const CHUNK = 1024 * 1024;
/**
 * Bytes of the archive parsed and written per turn of the event loop: ~50 small files, a few ms, so
 * a server sharing the loop (the API) keeps answering.
 */
const SLICE = 256 * 1024;
/**
 * Inflated bytes per zlib output buffer (one incompressible input chunk fits: one pool trip), and
 * at most this many bytes wait for the parser before the source is paused.
 */
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
  // node-tar's word for an archive that ended (two zero blocks) before any entry: empty, or zeros
  if (e?.code === "TAR_BAD_ARCHIVE" && /Unrecognized archive format/.test(message))
    return new AttuneError(
      ErrorCodes.EUNSAFE_ARCHIVE,
      "the archive holds no files (it is empty or not a tar archive)",
      {
        path: file,
        cause: err,
        details: { entry: null },
        hint: "build the archive from the pack's directory, e.g. tar czf pack.tgz -C my-pack .",
      },
    );
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
 * Inflate a gzip stream with node:zlib's asynchronous gunzip, which runs on the thread pool (node-tar's
 * own gunzip is synchronous, on the main thread). Its decompression-ratio guard is replaced by the
 * same one here: compressed bytes are counted as they are handed to the gunzip (it takes one chunk at
 * a time: its buffer is smaller than a chunk), inflated bytes as they come out, checked before they
 * reach the parser. A gzip inside the gzip is refused, as node-tar refused it before (it only looks
 * for compression at the very start of the stream it is given).
 */
function inflate(input: Readable, stop: (err: unknown) => void): Readable {
  // zlib passes stream options on to its Transform; its typings only list the zlib ones
  const gunzip = createGunzip({ chunkSize: READ_AHEAD, readableHighWaterMark: READ_AHEAD } as ZlibOptions);
  let compressed = 0;
  let inflated = 0;
  let head: Buffer | null = Buffer.alloc(0); // the first inflated bytes, until there are 2
  input.on("data", (chunk: Buffer) => (compressed += chunk.length));
  input.pipe(gunzip);
  gunzip.on("error", stop);
  // registered before the parser's feed: a refused chunk never reaches the parser
  gunzip.on("data", (chunk: Buffer) => {
    inflated += chunk.length;
    if (inflated > MAX_RATIO * compressed) return stop(ratioTooLarge());
    if (head) {
      head = Buffer.concat([head, chunk]);
      if (head.length < 2) return;
      if (head[0] === 0x1f && head[1] === 0x8b) {
        return stop(new Error("the gzip stream holds another gzip stream, not a tar archive"));
      }
      head = null;
    }
  });
  return gunzip;
}

/**
 * Hand `source`'s chunks to the parser from setImmediate, not from inside the 'data' event. The event
 * is emitted from the producer's completion callback (zlib's or the file read's), and the producer
 * queues its next piece of work on the thread pool only after the event returns, partly from
 * process.nextTick callbacks (the stream machinery that passes it the next input chunk). Parsing and
 * writing a chunk inside the event, or in a nextTick queued before those, made inflating the next
 * chunk wait for it: the main thread sat idle ~25% of the time waiting for zlib. Deferred to the
 * check phase, the two overlap. At most READ_AHEAD bytes wait here (then the source is paused).
 *
 * Once the parser has seen the end-of-archive marker (two zero blocks), whatever follows is read to
 * the end (an archive's checksum covers the whole file) but no longer handed to the parser: like
 * tar, node-tar ignores it, yet it would keep it, concatenating each chunk onto all the ones before,
 * so a few MB of gzipped zeros cost minutes of CPU. Returns the count of bytes so ignored.
 */
function feed(
  source: Readable,
  parser: Parser,
  stopped: () => boolean,
  writer: TreeWriter,
): { trailing: number } {
  const queue: Buffer[] = [];
  const ignored = { trailing: 0 };
  let queued = 0;
  let scheduled = false;
  let ended = false;
  let parserFull = false;
  let closed = false;
  let eof = false;
  parser.on("eof", () => {
    eof = true;
    parserFull = false;
    schedule();
  });
  // one SLICE per turn of the event loop
  const drain = () => {
    scheduled = false;
    if (stopped()) return;
    if (eof) {
      for (const chunk of queue) ignored.trailing += chunk.length;
      queue.length = 0;
      queued = 0;
    }
    if (writer.full) return writer.onDrain(schedule);
    const head = parserFull ? undefined : queue[0];
    if (head) {
      // at most SLICE bytes per turn (zlib hands over up to READ_AHEAD at once)
      const chunk = head.length > SLICE ? head.subarray(0, SLICE) : head;
      if (chunk === head) queue.shift();
      else queue[0] = head.subarray(SLICE);
      queued -= chunk.length;
      parserFull = !parser.write(chunk);
      if (stopped()) return;
    }
    if (queue.length > 0) {
      if (!parserFull) schedule();
    } else if (ended && !closed) {
      closed = true;
      parser.end();
    }
    if (queued < READ_AHEAD && source.isPaused()) source.resume();
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(drain);
  };
  source.on("data", (chunk: Buffer) => {
    queue.push(chunk);
    queued += chunk.length;
    if (queued >= READ_AHEAD) source.pause();
    schedule();
  });
  source.on("end", () => {
    ended = true;
    schedule();
  });
  parser.on("drain", () => {
    parserFull = false;
    schedule();
  });
  return ignored;
}

export interface TarOptions {
  signal?: AbortSignal;
  kept?: KeptContents;
  onProgress?: (p: { files: number; bytes: number }) => void;
  onRead?: (chunk: Buffer) => void;
  noFollow?: boolean;
}

export function abortedError(signal?: AbortSignal): AttuneError {
  return new AttuneError(ErrorCodes.EIO, "extraction aborted", { cause: signal?.reason });
}

/**
 * Extract a tar or gzipped tar (gzip magic 1f 8b) into the fresh private directory `root`, checking
 * each entry the moment its header is parsed, in archive order, and writing its bytes synchronously
 * as the parser hands them over: everything happens inside the parser's events, one chunk of the
 * archive at a time, with no promise, async iterator or stream hand-off per entry (the earlier
 * generator of entries, consumed with for-await, kept the main thread ~20% busier). Between chunks
 * the event loop runs; gzip is inflated on the thread pool meanwhile (see feed()). strict mode turns
 * node-tar's warnings (bad checksum, truncation) into errors, and entries of an unknown type, which
 * node-tar would silently skip, are refused. node-tar is given plain tar only, and told not to look
 * for zstd or brotli in it. Headers are checked as they are parsed, so a bomb is named by the entry
 * whose declared size gives it away before its body is inflated. Resolves once the whole file was
 * read and every entry written; when it rejects, nothing is being written any more (the caller
 * removes `root`).
 */
export async function extractTar(
  file: string,
  root: string,
  limits: ExtractLimits,
  opts: TarOptions = {},
): Promise<{ files: number; directories: number; bytes: number; trailingBytes: number }> {
  const { signal, onRead } = opts;
  if (signal?.aborted) throw abortedError(signal);
  const { fd, gzip } = openArchive(file, Boolean(opts.noFollow));
  return new Promise((resolve, reject) => {
    const checker = new EntryChecker(limits);
    const writer = new TreeWriter(root, limits, opts.onProgress, opts.kept, true);
    const parser = new (loadTar().Parser)({ strict: true, zstd: false, brotli: false });
    const input = createReadStream(file, { fd, start: 0, highWaterMark: CHUNK });
    let gunzip: Readable | null = null;
    let sink: FileSink | null = null; // the file being written
    let settled = false;
    const onAbort = () => fail(abortedError(signal));
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      sink?.abort();
      sink = null;
      input.destroy();
      gunzip?.destroy();
      // the writing thread must be idle before the caller removes the work directory
      void writer.stopThread().then(() => reject(translate(err, file)));
    };
    const guard =
      <A extends unknown[]>(fn: (...args: A) => void) =>
      (...args: A) => {
        if (settled) return;
        try {
          fn(...args);
        } catch (err) {
          fail(err);
        }
      };
    parser.on(
      "entry",
      guard((e: ReadEntry) => {
        if (signal?.aborted) throw abortedError(signal);
        afterLoneZeroBlock();
        globalRename(e);
        const entry = describe(e);
        const rel = checker.check(entry);
        if (rel === null || entry.kind !== "file") {
          if (rel !== null) writer.directorySync(rel);
          e.resume();
          return;
        }
        const s = writer.begin(rel, entry.size, (entry.mode & 0o111) !== 0);
        sink = s;
        e.on(
          "data",
          guard((chunk: Buffer) => s.write(chunk)),
        );
        e.on(
          "end",
          guard(() => {
            sink = null;
            s.end();
          }),
        );
      }),
    );
    parser.on("ignoredEntry", (e: ReadEntry) =>
      fail(unsafe(e.path, `unsupported tar entry type "${e.type}"`)),
    );
    // What tools read differently is refused, not guessed at (docs/security.md):
    // - an entry after a single zero block: GNU tar and Python stop at it ("A lone zero block"),
    //   node-tar reads on, so a file a reviewer's `tar tf` never showed would be installed;
    // - a GNU sparse file in pax form (GNU.sparse.* keys): node-tar drops those keys and would
    //   write the sparse map as the file's bytes, under the GNUSparseFile.<pid>/ name.
    let loneZeroBlock = false;
    parser.on("nullBlock", () => (loneZeroBlock = true));
    parser.on("eof", () => (loneZeroBlock = false));
    const afterLoneZeroBlock = () => {
      if (loneZeroBlock)
        throw unsafe(
          "(archive)",
          "an entry follows a single zero block, where GNU tar and other tools end the archive (its contents would differ between tools)",
        );
    };
    // - a pax global header ('g') that sets path, linkpath or size for the entries after it: GNU tar
    //   applies its path to every one of them (`tar tf` lists `../x` for each), node-tar ignores
    //   the path and applies the rest, so what is installed is not what a reviewer saw. git archive's
    //   global header (a `comment` holding the commit) sets none of these.
    const globalRename = (e: ReadEntry) => {
      const g = e.globalExtended;
      const keys = g ? (["path", "linkpath", "size"] as const).filter((k) => g[k] !== undefined) : [];
      if (keys.length > 0)
        throw unsafe(
          "(archive)",
          `a pax global header sets ${keys.join(", ")} for every entry after it, which tar tools apply differently (GNU tar renames every entry, node-tar none)`,
          "rebuild the archive without a global path: plain tar czf, or pax headers per entry",
        );
    };
    parser.on(
      "meta",
      guard((text: string) => {
        afterLoneZeroBlock();
        if (/(?:^|\n)\d+ GNU\.sparse\.[A-Za-z]+=/.test(text))
          throw unsafe(
            /(?:^|\n)\d+ GNU\.sparse\.name=([^\n]*)/.exec(text)?.[1] ?? "(archive)",
            "a GNU sparse file (pax GNU.sparse.* keys) is not supported",
            // bsdtar writes one for any file with holes, unasked
            "rebuild the archive without sparse entries: bsdtar --no-read-sparse, or GNU tar without --sparse",
          );
      }),
    );
    parser.on("error", fail);
    parser.on(
      "end",
      guard(() => {
        // strict parsing fails a truncated body first; this only guards against a silent stop
        if (sink) throw unsafe("(archive)", "the archive ends in the middle of a file");
        writer.finishThread().then(() => {
          if (settled) return;
          settled = true;
          signal?.removeEventListener("abort", onAbort);
          writer.complete();
          resolve({
            files: writer.files,
            directories: writer.directories,
            bytes: writer.bytes,
            trailingBytes: fed.trailing,
          });
        }, fail);
      }),
    );
    input.on("error", fail);
    if (onRead) {
      // registered first: sees each chunk before it is passed on
      input.on(
        "data",
        guard((chunk: string | Buffer) => onRead(chunk as Buffer)), // no encoding set: always a Buffer
      );
    }
    signal?.addEventListener("abort", onAbort, { once: true });
    if (gzip) gunzip = inflate(input, fail);
    const fed = feed(gunzip ?? input, parser, () => settled, writer);
  });
}
