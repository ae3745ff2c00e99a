import { createReadStream } from "node:fs";
import fs from "node:fs/promises";
import { createHash } from "node:crypto";
import { AttuneError, ErrorCodes } from "@attune/pack-storage";
import { archiveTypeFromName } from "../extract";
import { typeFromMagic } from "../extract/detect";
import {
  decodedTooLarge,
  decodeStream,
  isZlibError,
  parseContentEncoding,
  type ContentCoding,
} from "../net/content-encoding";
import { DOWNLOAD_CAP_HINT } from "../net/request";

export interface ArchiveBytes {
  checksum: string;
  bytes: number;
  /** the file now holds the download decoded once (it was compressed again on the wire) */
  decoded: boolean;
}

const HEAD = 512;

/** The first bytes of the file as sent, and decoded once (null when it is not `coding` data). */
async function heads(file: string, coding: ContentCoding): Promise<{ sent: Buffer; decoded: Buffer | null }> {
  const fh = await fs.open(file, "r");
  const sent = Buffer.alloc(HEAD);
  let length: number;
  try {
    ({ bytesRead: length } = await fh.read(sent, 0, HEAD, 0));
  } finally {
    await fh.close();
  }
  const stream = createReadStream(file);
  const chunks: Buffer[] = [];
  let got = 0;
  try {
    for await (const c of decodeStream(stream, coding, { release: () => stream.destroy() })) {
      chunks.push(c);
      got += c.length;
      if (got >= HEAD) break;
    }
  } catch (e) {
    if (!isZlibError(e)) throw e;
    return { sent: sent.subarray(0, length), decoded: null };
  }
  return { sent: sent.subarray(0, length), decoded: Buffer.concat(chunks).subarray(0, HEAD) };
}

/** Decode `file` into `into`, hashing; null when it turns out not to be `coding` data. */
async function decodeFile(
  file: string,
  into: string,
  coding: ContentCoding,
  maxBytes: number,
  tooLarge: () => Error,
): Promise<{ checksum: string; bytes: number } | null> {
  const stream = createReadStream(file);
  const hash = createHash("sha256");
  let bytes = 0;
  const fh = await fs.open(into, "wx", 0o600);
  try {
    for await (const c of decodeStream(stream, coding, {
      limit: maxBytes,
      tooLarge,
      release: () => stream.destroy(),
    })) {
      hash.update(c);
      bytes += c.length;
      for (let off = 0; off < c.length;) off += (await fh.write(c, off)).bytesWritten;
    }
  } catch (e) {
    await fh.close();
    await fs.rm(into, { force: true });
    if (isZlibError(e)) return null;
    throw e;
  }
  await fh.close();
  return { checksum: `sha256:${hash.digest("hex")}`, bytes };
}

/**
 * Which bytes of a download sent with `Content-Encoding: gzip` (or deflate) are the archive.
 *
 * Usually those as sent: S3 or CloudFront serve a .tar.gz uploaded with that metadata byte for
 * byte, and the index's checksum is of that file (a browser would decode it into a .tar; curl and
 * wget keep it). Only when the bytes as sent wrap the archive once more are they decoded: a server
 * that compressed the file on the fly although attune asked for `identity`. That is the case when
 * the decoded bytes match the registry's checksum (and those as sent do not), or, without one,
 * when they are themselves a compressed archive (gzip in gzip, zip in gzip), or are the archive
 * type the URL's name promises where the bytes as sent are not.
 * The decoded bytes stay under the download cap: a small body that inflates past it is refused.
 */
export async function archiveBytes(
  file: string,
  sent: { checksum: string; bytes: number; contentEncoding: string | null },
  /** `name`: the archive name the URL promises (see archiveUrlSource), if it has one */
  opts: { url: string; name?: string; maxBytes: number; expected?: string },
): Promise<ArchiveBytes> {
  const asSent: ArchiveBytes = { checksum: sent.checksum, bytes: sent.bytes, decoded: false };
  const coding = parseContentEncoding(sent.contentEncoding ?? undefined);
  if (coding === null || coding === "unsupported") return asSent; // extraction or the checksum judges them
  if (opts.expected !== undefined && sent.checksum === opts.expected) return asSent;
  const head = await heads(file, coding);
  if (head.decoded === null) return asSent; // labelled, not encoded
  if (opts.expected === undefined) {
    const named = opts.name === undefined ? null : archiveTypeFromName(opts.name);
    const inner = typeFromMagic(head.decoded);
    const wraps =
      inner === "tar.gz" ||
      inner === "zip" ||
      (named !== null && typeFromMagic(head.sent) !== named && inner === named);
    if (!wraps) return asSent;
  }
  const tooLarge = () => decodedTooLarge("source", opts.url, coding, opts.maxBytes, DOWNLOAD_CAP_HINT);
  const into = `${file}.decoded`;
  let decoded: { checksum: string; bytes: number } | null;
  try {
    decoded = await decodeFile(file, into, coding, opts.maxBytes, tooLarge);
  } catch (e) {
    // with a checksum to match, bytes past the cap are not the archive: the mismatch is the news
    if (opts.expected !== undefined && e instanceof AttuneError && e.code === ErrorCodes.ETOO_LARGE)
      return asSent;
    throw e;
  }
  if (decoded === null) return asSent;
  if (opts.expected !== undefined && decoded.checksum !== opts.expected) {
    await fs.rm(into, { force: true });
    return asSent;
  }
  await fs.rename(into, file);
  return { ...decoded, decoded: true };
}
