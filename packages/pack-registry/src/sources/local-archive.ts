import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { mkdtemp, open, readlink, realpath, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, sep } from "node:path";
import { AttuneError, ErrorCodes, ioError } from "@attune/pack-storage";
import { detectArchiveType, notARegularFile } from "../extract/detect";
import { NO_FOLLOW_FLAGS } from "../open-flags";
import { extractArchive, type ExtractOptions } from "../extract/extract";
import { KeptContents } from "../extract/kept";
import { capHint, resolveLimits, type ExtractLimits } from "../extract/limits";
import { asSourceError, checkLocalPath } from "./local-directory";
import { hardLinkError } from "./local-copy/walk";
import { writeAll } from "../extract/writer";
import type { FetchContext, FetchResult, Source } from "./types";

function tooBig(from: string, maxBytes: number, total: number): AttuneError {
  return new AttuneError(ErrorCodes.ETOO_LARGE, `${from} is larger than ${maxBytes} bytes`, {
    path: from,
    details: { entry: null, limit: "maxTotalBytes", value: total },
    hint: capHint("maxTotalBytes"),
  });
}

/**
 * Copy the archive into a private file while hashing it, so the bytes that are hashed are exactly
 * the bytes that get extracted (the user's file may change under us). Needed for zip only, which is
 * read out of order.
 */
export async function snapshot(
  from: string,
  to: string,
  maxBytes: number,
  roots?: string[],
): Promise<string> {
  const hash = createHash("sha256");
  // O_NONBLOCK: a FIFO swapped in since the type check cannot block open() (and, in the API, hold
  // one of the thread pool's four threads for good); fstat below refuses it
  const src = await open(from, NO_FOLLOW_FLAGS).catch((err) => {
    // checked as a regular file a moment ago: a link now means it was swapped
    if ((err as NodeJS.ErrnoException).code === "ELOOP")
      throw new AttuneError(ErrorCodes.ESYMLINK, `source: ${from} was replaced by a symbolic link`, {
        path: from,
        cause: err,
        details: { field: "source" },
      });
    throw ioError(err, from, "cannot read");
  });
  try {
    const st = await src.stat();
    if (!st.isFile()) throw notARegularFile(from);
    if (roots) await assertOpenedInside(src.fd, from, roots);
    // under roots, as for a directory's files
    if (roots && st.nlink > 1) throw hardLinkError(from, st.nlink);
    const dst = await open(to, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      const buffer = Buffer.allocUnsafe(1024 * 1024);
      let total = 0;
      for (;;) {
        const { bytesRead } = await src.read(buffer, 0, buffer.length, null);
        if (bytesRead === 0) break;
        total += bytesRead;
        if (total > maxBytes) throw tooBig(from, maxBytes, total);
        hash.update(buffer.subarray(0, bytesRead));
        await writeAll(dst, buffer.subarray(0, bytesRead));
      }
    } finally {
      await dst.close();
    }
  } finally {
    await src.close();
  }
  return `sha256:${hash.digest("hex")}`;
}

/**
 * Where an open descriptor really is must lie inside one of the roots: the path was checked before,
 * but a directory on it may have been swapped for a link since (the descriptor cannot change).
 */
export async function assertOpenedInside(fd: number, from: string, roots: string[]): Promise<void> {
  let real: string;
  try {
    real = await readlink(`/proc/self/fd/${fd}`);
  } catch {
    real = await realpath(from).catch(() => "");
  }
  const allowed = await Promise.all(roots.map((r) => realpath(r).catch(() => null)));
  if (allowed.some((r) => r !== null && real.startsWith(r.endsWith(sep) ? r : r + sep))) return;
  throw new AttuneError(
    ErrorCodes.ESYMLINK,
    `source: ${from} resolves outside the allowed local source roots now (a directory on its path was replaced by a link)`,
    { path: from, details: { field: "source" } },
  );
}

/**
 * A tar or tar.gz is read once, straight from the user's file, and hashed as it is read: the
 * extractor hands every byte it reads to `onRead`, so the checksum is of exactly the bytes that were
 * extracted, like the private copy gives for zip, without writing and reading 100 MB once more.
 */
async function extractHashing(
  from: string,
  stagingDir: string,
  caps: ExtractLimits,
  opts: ExtractOptions,
): Promise<{ archiveChecksum: string; type: string; files: number; bytes: number }> {
  const size = (await stat(from)).size;
  if (size > caps.maxTotalBytes) throw tooBig(from, caps.maxTotalBytes, size); // before writing anything
  const hash = createHash("sha256");
  let total = 0;
  const result = await extractArchive(from, stagingDir, caps, {
    ...opts,
    noFollow: true,
    onRead: (chunk) => {
      total += chunk.length;
      if (total > caps.maxTotalBytes) throw tooBig(from, caps.maxTotalBytes, total); // it grew
      hash.update(chunk);
    },
  });
  return { archiveChecksum: `sha256:${hash.digest("hex")}`, ...result };
}

/**
 * `local_archive`: a local .tar.gz/.tgz/.tar/.zip, hashed (`archiveChecksum`) and safely extracted
 * into staging. The archive itself is capped at the total-bytes limit.
 */
export function localArchiveSource(path: string, limits: Partial<ExtractLimits> = {}): Source {
  return {
    type: "local_archive",
    async fetch(stagingDir: string, ctx: FetchContext): Promise<FetchResult> {
      const caps = resolveLimits({ ...ctx.limits, ...limits });
      const { absolute, real } = await checkLocalPath(path, ctx.localSourceRoots, "file");
      const kept = new KeptContents();
      const opts: ExtractOptions = {
        name: absolute,
        signal: ctx.signal,
        onProgress: ctx.onProgress && ((p) => ctx.onProgress?.({ phase: "extract", ...p })),
        kept,
      };
      // Under local source roots (the API) every archive is read through a private copy made from
      // a descriptor proven to be inside them: no later open by path can be redirected elsewhere.
      const roots = ctx.localSourceRoots;
      const extract = async () =>
        roots !== undefined
          ? viaPrivateCopy(real, stagingDir, caps, opts, roots)
          : (await detectArchiveType(real, { name: absolute, noFollow: true })) === "zip"
            ? viaPrivateCopy(real, stagingDir, caps, opts)
            : extractHashing(real, stagingDir, caps, opts);
      const extracted = await extract().catch((err: unknown) => {
        // the bytes kept before the refusal go back to the process's budget now, not at GC
        kept.release();
        throw asSourceError(err, [real, absolute]);
      });
      return {
        sourceType: "local_archive",
        sourceUrl: absolute,
        sourceRef: null,
        resolvedCommit: null,
        archiveChecksum: extracted.archiveChecksum,
        expectedChecksum: null,
        registryName: null,
        stagedContents: kept,
        details: { archiveType: extracted.type, files: extracted.files, bytes: extracted.bytes },
      };
    },
  };
}

/** zip (and any archive under local source roots): hash a private copy while making it, then extract the copy (always removed). */
async function viaPrivateCopy(
  from: string,
  stagingDir: string,
  caps: ExtractLimits,
  opts: ExtractOptions,
  roots?: string[],
): Promise<{ archiveChecksum: string; type: string; files: number; bytes: number }> {
  const tmp = await mkdtemp(join(tmpdir(), "attune-local-archive-"));
  try {
    const copy = join(tmp, "archive");
    const archiveChecksum = await snapshot(from, copy, caps.maxTotalBytes, roots);
    return { archiveChecksum, ...(await extractArchive(copy, stagingDir, caps, opts)) };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
