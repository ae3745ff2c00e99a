import { open, readFile, stat } from "node:fs/promises";
import { isUtf8 } from "node:buffer";
import type { Readable } from "node:stream";
import { crc32 } from "node:zlib";
import type { Entry, ZipFile } from "yauzl";
import { AttuneError, ErrorCodes, ioError } from "@attune/pack-storage";
import type { ArchiveEntry } from "./entry-checker";
import { unsafe } from "./entry-checker";
import type { ReaderItem } from "./tar-reader";

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const UNIX_HOSTS = new Set([3, 19]); // "made by" Unix and OS X: the high 16 bits of the attributes are st_mode

/** Zip compression methods other than stored (0) and deflate (8) that tools write. */
const ZIP_METHODS: Record<string, string> = {
  "9": "Deflate64",
  "12": "bzip2",
  "14": "LZMA",
  "93": "Zstandard",
  "95": "XZ",
  "98": "PPMd",
};

function corrupt(file: string, err: unknown, entry: string | null = null): AttuneError {
  if (err instanceof AttuneError) return err;
  const message = (err as Error)?.message ?? String(err);
  // yauzl's own name checks; report them like ours, naming the entry
  const named = /^(absolute path|invalid relative path|invalid characters in fileName): (.*)$/s.exec(message);
  if (named) return unsafe(named[2], named[1].replace("fileName", "the name"));
  const method = /unsupported compression method: (\d+)/.exec(message);
  if (method)
    return unsafe(
      entry ?? "(unknown)",
      `compressed with method ${method[1]} (${ZIP_METHODS[method[1]] ?? "unknown"}), which is not supported: only stored and deflate are`,
      "rebuild the zip with deflate (zip's default; 7z a -tzip -mm=Deflate)",
    );
  if (/too many bytes in the stream|not enough bytes in the stream/.test(message)) {
    return unsafe(entry ?? "(unknown)", `its size header lies about its content (${message})`);
  }
  return new AttuneError(ErrorCodes.EUNSAFE_ARCHIVE, `corrupt or truncated zip data: ${message}`, {
    path: file,
    cause: err,
    details: { entry },
    hint: "the archive is damaged; download or rebuild it",
  });
}

function describe(e: Entry): ArchiveEntry {
  const unixMode = UNIX_HOSTS.has(e.versionMadeBy >> 8) ? e.externalFileAttributes >>> 16 : 0;
  const type = unixMode & S_IFMT;
  const base = { name: e.fileName, mode: unixMode & 0o7777, size: e.uncompressedSize };
  if (type === S_IFLNK) return { ...base, kind: "symlink", linkTarget: "(stored in the entry)" };
  if (type === S_IFDIR || (type === 0 && e.fileName.endsWith("/")))
    return { ...base, kind: "directory", size: 0 };
  if (type === S_IFREG || type === 0)
    return { ...base, kind: e.fileName.endsWith("/") ? "directory" : "file" };
  return { ...base, kind: "special", rawType: `special file (mode ${type.toString(8)})` };
}

const OPTIONS = {
  lazyEntries: true,
  autoClose: false,
  strictFileNames: true,
  validateEntrySizes: true,
  // names are decoded here (entryName): yauzl reads a name without the UTF-8 flag as CP437
  decodeStrings: false,
};

type Yauzl = typeof import("yauzl");

/**
 * An entry's name. Info-ZIP's `zip` on Unix (the everyday `zip -r`) stores names as the bytes the
 * file system gave it, UTF-8 today, without setting the UTF-8 flag, and unzip, bsdtar and 7z read
 * them so; yauzl would read them as CP437, the zip specification's default, and `café.txt` was
 * installed as `caf├⌐.txt` (another checksum than the directory's). A name that is valid UTF-8 is
 * therefore read as UTF-8; any other keeps CP437 (a legacy DOS zip). The Info-ZIP Unicode path
 * field, when present, wins as before; yauzl's name checks (absolute, `..`, backslash) apply.
 */
function entryName(yauzl: Yauzl, e: Entry, file: string): string {
  const raw = e.fileName as unknown as Buffer;
  const flags = isUtf8(raw) ? e.generalPurposeBitFlag | 0x800 : e.generalPurposeBitFlag;
  const name = yauzl.getFileNameLowLevel(flags, raw, e.extraFields, true);
  const problem = yauzl.validateFileName(name);
  if (problem !== null) throw corrupt(file, new Error(problem));
  return name;
}
// yauzl reads each central-directory record with two small fs reads; for the common small archive,
// one read of the whole file makes a 50,000-entry directory ~10x faster to walk.
const IN_MEMORY_MAX = 64 * 1024 * 1024;

async function openZip(file: string): Promise<{ zip: ZipFile; yauzl: Yauzl }> {
  let data: Buffer | null;
  try {
    data = (await stat(file)).size <= IN_MEMORY_MAX ? await readFile(file) : null;
  } catch (err) {
    throw ioError(err, file, "cannot read archive");
  }
  // loaded here, not at import: only zip archives need it (~0.1 s of start-up)
  const { default: yauzl } = await import("yauzl");
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, zip?: ZipFile) =>
      err || !zip ? reject(corrupt(file, err)) : resolve({ zip, yauzl });
    if (data) yauzl.fromBuffer(data, OPTIONS, done);
    else yauzl.open(file, OPTIONS, done);
  });
}

function nextEntry(zip: ZipFile, file: string): Promise<Entry | null> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      zip.off("entry", onEntry).off("end", onEnd).off("error", onError);
    };
    const onEntry = (e: Entry) => (cleanup(), resolve(e));
    const onEnd = () => (cleanup(), resolve(null));
    const onError = (err: unknown) => (cleanup(), reject(corrupt(file, err)));
    zip.on("entry", onEntry).on("end", onEnd).on("error", onError);
    zip.readEntry();
  });
}

function body(zip: ZipFile, e: Entry, file: string): AsyncIterable<Buffer> {
  return {
    async *[Symbol.asyncIterator]() {
      const stream = await new Promise<Readable>((resolve, reject) =>
        zip.openReadStream(e, (err, s) => (err || !s ? reject(corrupt(file, err, e.fileName)) : resolve(s))),
      );
      // yauzl does not check CRC-32; without this a damaged stored entry would pass silently
      let crc = 0;
      try {
        for await (const chunk of stream) {
          crc = crc32(chunk as Buffer, crc);
          yield chunk as Buffer;
        }
      } catch (err) {
        throw corrupt(file, err, e.fileName);
      } finally {
        stream.destroy();
      }
      if (crc >>> 0 !== e.crc32 >>> 0)
        throw unsafe(e.fileName, "CRC-32 mismatch: the entry's data is damaged");
    },
  };
}

/** The signature of a central-directory file header. */
const CENTRAL_HEADER = 0x02014b50;

/**
 * yauzl reads as many central-directory records as the end record counts. When the directory holds
 * more (its size, and `unzip -l`, say so), the others would be silently dropped: a tool reading the
 * whole directory would see files this one does not. Refused, so every tool sees the same archive.
 */
async function assertNoEntryUncounted(zip: ZipFile, file: string): Promise<void> {
  const cursor: unknown = zip.readEntryCursor; // yauzl: the offset after the last record read
  if (typeof cursor !== "number") return;
  const head = Buffer.alloc(4);
  let n = 0;
  try {
    const fd = await open(file, "r");
    try {
      n = (await fd.read(head, 0, 4, cursor)).bytesRead;
    } finally {
      await fd.close();
    }
  } catch (err) {
    throw ioError(err, file, "cannot read archive");
  }
  if (n === 4 && head.readUInt32LE(0) === CENTRAL_HEADER)
    throw unsafe(
      "(archive)",
      "the central directory holds more entries than its end record counts (tools would disagree on the archive's files)",
    );
}

/**
 * Walk a zip's central directory entry by entry (lazily, so a million-entry directory is never held
 * in memory). yauzl checks names (absolute, "..", backslash) and, while inflating, that the bytes match
 * the declared size, so a lying header fails on the first extra byte.
 */
export async function* readZip(file: string, signal?: AbortSignal): AsyncGenerator<ReaderItem> {
  const { zip, yauzl } = await openZip(file);
  try {
    for (;;) {
      if (signal?.aborted)
        throw new AttuneError(ErrorCodes.EIO, "extraction aborted", { cause: signal.reason });
      const e = await nextEntry(zip, file);
      if (!e) {
        await assertNoEntryUncounted(zip, file);
        return;
      }
      e.fileName = entryName(yauzl, e, file);
      if (e.isEncrypted()) throw unsafe(e.fileName, "encrypted entries are not supported");
      const entry = describe(e);
      yield { entry, body: entry.kind === "file" ? body(zip, e, file) : null };
    }
  } finally {
    zip.close();
  }
}
