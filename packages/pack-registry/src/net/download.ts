import fs from "node:fs/promises";
import { createHash } from "node:crypto";
import { ioError } from "@attune/pack-storage";
import type { OutboundPolicy } from "../policy/outbound-policy";
import { request, type PolicyRequestOptions } from "./request";
import { assertOk } from "./fetch-buffer";

export interface DownloadResult {
  url: string;
  bytes: number;
  /** `sha256:` of the bytes written, computed while streaming */
  checksum: string;
  contentType: string | null;
  /** the response's Content-Encoding header, if any: the bytes are kept as sent, never decoded */
  contentEncoding: string | null;
}

/**
 * Ask for the file's bytes as they are (as pip does): a server that compresses on the fly would
 * otherwise be free to gzip a .tar.gz again. A caller's own Accept-Encoding (in any case) wins.
 */
function identityEncoding(headers: Record<string, string> | undefined): Record<string, string> {
  return Object.keys(headers ?? {}).some((k) => k.toLowerCase() === "accept-encoding")
    ? (headers ?? {})
    : { ...headers, "accept-encoding": "identity" };
}

/**
 * Stream a URL into a new private file (0600, must not exist), hashing as it goes. The file holds
 * the bytes as sent: a Content-Encoding is reported (`contentEncoding`), not decoded.
 * `check` sees the response headers before any byte is written (content-type checks).
 * On any failure the partial file is removed.
 */
export async function downloadToFile(
  policy: OutboundPolicy,
  url: string,
  file: string,
  opts: PolicyRequestOptions & {
    check?: (headers: Record<string, string | string[] | undefined>, finalUrl: string) => void;
    onProgress?: (p: { bytes: number; totalBytes?: number }) => void;
  } = {},
): Promise<DownloadResult> {
  const res = await request(policy, url, {
    ...opts,
    headers: identityEncoding(opts.headers),
    decode: false,
  });
  assertOk(res, opts.field, opts.authHint);
  try {
    opts.check?.(res.headers, res.url);
  } catch (e) {
    res.dispose();
    throw e;
  }
  const total = Number(res.headers["content-length"]);
  const hash = createHash("sha256");
  let bytes = 0;
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(file, "wx", 0o600);
    for await (const chunk of res.body) {
      hash.update(chunk);
      bytes += chunk.length;
      for (let off = 0; off < chunk.length;) off += (await fh.write(chunk, off)).bytesWritten; // short writes are legal
      opts.onProgress?.({ bytes, totalBytes: Number.isFinite(total) ? total : undefined });
    }
    await fh.close();
    fh = undefined;
  } catch (e) {
    res.dispose();
    await fh?.close().catch(() => undefined);
    await fs.rm(file, { force: true });
    throw ioError(e, file, "write"); // AttuneErrors (ETOO_LARGE, EFETCH, ...) pass through unchanged
  }
  const ct = res.headers["content-type"];
  const ce = res.headers["content-encoding"];
  return {
    url: res.url,
    bytes,
    checksum: `sha256:${hash.digest("hex")}`,
    contentType: ct ? String(ct) : null,
    contentEncoding: ce ? String(ce) : null,
  };
}
