import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AttuneError, ErrorCodes, ioError } from "@attune/pack-storage";
import { extractArchive } from "../extract/extract";
import { resolveLimits, type ExtractLimits } from "../extract/limits";
import { checkLocalPath } from "./local-directory";
import { writeAll } from "../extract/writer";
import type { FetchContext, FetchResult, Source } from "./types";

/**
 * Copy the archive into a private file while hashing it, so the bytes that are hashed are exactly
 * the bytes that get extracted (the user's file may change under us).
 */
async function snapshot(from: string, to: string, maxBytes: number): Promise<string> {
  const hash = createHash("sha256");
  const src = await open(from, constants.O_RDONLY | constants.O_NOFOLLOW).catch((err) => {
    throw ioError(err, from, "cannot read");
  });
  try {
    const dst = await open(to, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      const buffer = Buffer.allocUnsafe(1024 * 1024);
      let total = 0;
      for (;;) {
        const { bytesRead } = await src.read(buffer, 0, buffer.length, null);
        if (bytesRead === 0) break;
        total += bytesRead;
        if (total > maxBytes) {
          throw new AttuneError(ErrorCodes.ETOO_LARGE, `${from} is larger than ${maxBytes} bytes`, {
            path: from,
            details: { entry: null, limit: "maxTotalBytes", value: total },
          });
        }
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
 * `local_archive`: a local .tar.gz/.tgz/.tar/.zip, hashed (`archiveChecksum`) and safely extracted
 * into staging. The archive itself is capped at the total-bytes limit.
 */
export function localArchiveSource(path: string, limits: Partial<ExtractLimits> = {}): Source {
  return {
    type: "local_archive",
    async fetch(stagingDir: string, ctx: FetchContext): Promise<FetchResult> {
      const caps = resolveLimits({ ...ctx.limits, ...limits });
      const { absolute, real } = await checkLocalPath(path, ctx.localSourceRoots, "file");
      const tmp = await mkdtemp(join(tmpdir(), "attune-local-archive-"));
      try {
        const copy = join(tmp, "archive");
        const archiveChecksum = await snapshot(real, copy, caps.maxTotalBytes);
        const result = await extractArchive(copy, stagingDir, caps, {
          name: absolute,
          signal: ctx.signal,
          onProgress: ctx.onProgress && ((p) => ctx.onProgress?.({ phase: "extract", ...p })),
        });
        return {
          sourceType: "local_archive",
          sourceUrl: absolute,
          sourceRef: null,
          resolvedCommit: null,
          archiveChecksum,
          expectedChecksum: null,
          registryName: null,
          details: { archiveType: result.type, files: result.files, bytes: result.bytes },
        };
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
    },
  };
}
