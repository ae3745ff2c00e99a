import { createReadStream } from "node:fs";
import { Parser, type ReadEntry } from "tar";
import { AttuneError, ErrorCodes } from "@attune/pack-storage";
import type { ArchiveEntry } from "./entry-checker";
import { tooLarge, unsafe } from "./entry-checker";

export interface ReaderItem {
  entry: ArchiveEntry;
  /** the entry's bytes, for files; must be consumed (or left alone) before asking for the next item */
  body: AsyncIterable<Buffer> | null;
}

const FILE_TYPES = new Set(["File", "OldFile", "ContiguousFile"]);

function describe(e: ReadEntry): ArchiveEntry {
  const base = { name: e.path, mode: e.mode ?? 0, size: e.size ?? 0, rawType: e.type };
  if (FILE_TYPES.has(e.type)) return { ...base, kind: "file" };
  if (e.type === "Directory") return { ...base, kind: "directory", size: 0 };
  if (e.type === "SymbolicLink") return { ...base, kind: "symlink", linkTarget: e.linkpath };
  if (e.type === "Link") return { ...base, kind: "hardlink", linkTarget: e.linkpath };
  return { ...base, kind: "special" };
}

/** node-tar reports failures as plain errors with a `tarCode`; turn them into our codes. */
function translate(err: unknown, file: string): AttuneError {
  if (err instanceof AttuneError) return err;
  const e = err as Error & { tarCode?: string; code?: string };
  const message = e?.message ?? String(err);
  if (/decompression ratio/.test(message)) {
    return tooLarge(
      "(archive)",
      `decompresses to more than 1000x its size (a compression bomb)`,
      "ratio",
      1000,
    );
  }
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

/**
 * Stream a tar (or gzipped tar: node-tar sniffs the gzip magic) entry by entry, in archive order.
 * strict mode turns node-tar's warnings (bad checksum, truncation) into errors, and entries of an
 * unknown type, which node-tar would silently skip, are refused.
 */
export async function* readTar(file: string, signal?: AbortSignal): AsyncGenerator<ReaderItem> {
  const parser = new Parser({ strict: true });
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
  const input = createReadStream(file, { highWaterMark: 64 * 1024 });
  input.on("error", fail);
  input.pipe(parser as unknown as NodeJS.WritableStream);
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
    input.destroy();
  }
}
