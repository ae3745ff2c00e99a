import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { AttuneError, ErrorCodes, IntegrityError, redactUrl } from "@attune/pack-storage";
import { quoteRemote } from "../quote";
import { archiveTypeFromName, extractArchive } from "../extract";
import { KeptContents } from "../extract/kept";
import { downloadToFile } from "../net/download";
import { archiveBytes } from "./archive-encoding";
import { registryAuthHint } from "../net/fetch-buffer";
import { decodedPath } from "./url-path";
import { emptyDir } from "./staging";
import type { FetchContext, FetchResult, Source } from "./types";

// An error page or an API answer served where an archive was expected.
const NOT_ARCHIVE =
  /^(text\/html|application\/xhtml\+xml|[a-z]+\/([a-z.+-]+\+)?json|[a-z]+\/([a-z.+-]+\+)?xml)\b/i;

function checkContentType(headers: Record<string, string | string[] | undefined>, finalUrl: string): void {
  const ct = String(headers["content-type"] ?? "").trim();
  if (NOT_ARCHIVE.test(ct)) {
    throw new AttuneError(
      ErrorCodes.EFETCH,
      `source: ${redactUrl(finalUrl)} served ${quoteRemote(ct.split(";")[0], 100)}, not an archive`,
      {
        details: { field: "source", contentType: quoteRemote(ct, 200) },
        hint: "the URL probably points at a web page; use the direct download link of the .tar.gz/.zip",
      },
    );
  }
}

/** The archive name the URL promises (drives the extension/magic cross-check), if it has one. */
function archiveName(url: URL): string | undefined {
  const base = decodedPath(url).split("/").pop() ?? "";
  return archiveTypeFromName(base) ? base : undefined;
}

/**
 * The downloaded bytes are not those `expectedArchiveChecksum` names. From a registry, that is the
 * checksum the registry publishes, not one the caller gave: named as such, with the registry and
 * the (redacted) URL, and without `details.field` "checksum" (the request's field, which the API
 * reports as the culprit).
 */
function archiveMismatch(
  expected: string,
  found: string,
  url: string,
  opts: ArchiveUrlOptions,
): IntegrityError {
  const shown = redactUrl(url);
  if (opts.registryName === undefined)
    return new IntegrityError(expected, found, { details: { field: "checksum", url: shown } });
  return new IntegrityError(expected, found, {
    foundText: `archive checksum ${found} (of the bytes downloaded from ${shown})`,
    hint: `the archive does not match the checksum its registry (${opts.registryName}) publishes for ${shown}; do not trust it`,
    details: { field: "registry checksum", url: shown, checksumKind: "archive", registry: opts.registryName },
  });
}

export interface ArchiveUrlOptions {
  /** `sha256:` of the archive bytes (from a registry index); a mismatch aborts before extraction */
  expectedArchiveChecksum?: string;
  /** sent to the URL's origin only (a private registry's token, for its own downloads) */
  headers?: Record<string, string>;
  /** the registry the URL came from: a 401/403 then hints at its headers */
  registryName?: string;
}

/**
 * Download into a private temp file (0600 in a 0700 dir), hashing while streaming, then extract
 * safely into staging. The temp file is always removed; staging is emptied on failure.
 */
export function archiveUrlSource(url: string, opts: ArchiveUrlOptions = {}): Source {
  return {
    type: "archive",
    async fetch(stagingDir: string, ctx: FetchContext): Promise<FetchResult> {
      const u = ctx.policy.checkUrl(url, "source");
      const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "attune-download-"));
      const file = path.join(tmp, "archive");
      try {
        const dl = await downloadToFile(ctx.policy, url, file, {
          field: "source",
          headers: opts.headers,
          authHint: opts.registryName === undefined ? undefined : registryAuthHint(opts.registryName),
          signal: ctx.signal,
          check: checkContentType,
          onProgress: (p) => ctx.onProgress?.({ phase: "fetch", ...p }),
        });
        const expected = opts.expectedArchiveChecksum?.toLowerCase();
        // a Content-Encoding on the download: the bytes as sent, unless they wrap the archive again
        const got = await archiveBytes(file, dl, {
          url,
          name: archiveName(u),
          maxBytes: ctx.policy.maxDownloadBytes,
          expected,
        });
        if (expected !== undefined && got.checksum !== expected)
          throw archiveMismatch(expected, got.checksum, url, opts);
        const kept = new KeptContents();
        await extractArchive(file, stagingDir, ctx.limits ?? {}, {
          name: archiveName(u),
          signal: ctx.signal,
          onProgress: (p) => ctx.onProgress?.({ phase: "extract", ...p }),
          kept,
        }).catch((err: unknown) => {
          // the bytes kept before the refusal go back to the process's budget now, not at GC
          kept.release();
          throw err;
        });
        return {
          sourceType: "archive",
          sourceUrl: url,
          sourceRef: null,
          resolvedCommit: null,
          archiveChecksum: got.checksum,
          expectedChecksum: null,
          registryName: null,
          stagedContents: kept,
          details: {
            finalUrl: dl.url,
            bytes: got.bytes,
            contentType: dl.contentType,
            ...(dl.contentEncoding === null
              ? {}
              : { contentEncoding: quoteRemote(dl.contentEncoding, 100), decoded: got.decoded }),
          },
        };
      } catch (e) {
        await emptyDir(stagingDir);
        throw e;
      } finally {
        await fs.rm(tmp, { recursive: true, force: true });
      }
    },
  };
}
