import type http from "node:http";
import { Readable, type Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import zlib from "node:zlib";
import { AttuneError, ErrorCodes, redactUrl } from "@attune/pack-storage";
import { quoteRemote } from "../quote";

/** The content codings this package decodes (`x-gzip` is gzip; `identity` is none). */
export type ContentCoding = "gzip" | "deflate";

/**
 * A Content-Encoding header's coding: null for none (absent, empty, `identity`), `unsupported`
 * for anything else, a list of several codings included (stacked codings are not decoded).
 */
export function parseContentEncoding(
  header: string | string[] | undefined,
): ContentCoding | null | "unsupported" {
  const codings = (Array.isArray(header) ? header.join(",") : (header ?? ""))
    .split(",")
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== "" && c !== "identity");
  if (codings.length === 0) return null;
  if (codings.length > 1) return "unsupported";
  if (codings[0] === "gzip" || codings[0] === "x-gzip") return "gzip";
  if (codings[0] === "deflate") return "deflate";
  return "unsupported";
}

/** The coding of a response that must be decoded; an unsupported one is refused (EFETCH). */
export function contentCoding(
  header: string | string[] | undefined,
  field: string,
  url: URL,
): ContentCoding | null {
  const coding = parseContentEncoding(header);
  if (coding !== "unsupported") return coding;
  const shown = quoteRemote(Array.isArray(header) ? header.join(", ") : String(header), 100);
  throw new AttuneError(
    ErrorCodes.EFETCH,
    `${field}: ${redactUrl(url.href)} was sent with Content-Encoding: ${shown}, which attune cannot decode (it decodes gzip and deflate)`,
    {
      details: { field, url: redactUrl(url.href), contentEncoding: shown },
      hint: "have the server send it uncompressed, or gzip-compressed (Content-Encoding: gzip); attune sends no Accept-Encoding, so look for the CDN or proxy rule (or a header configured for the registry) that compresses it another way",
    },
  );
}

/** An error of zlib itself (corrupt or truncated compressed data), as opposed to one of the source. */
export function isZlibError(e: unknown): e is Error & { code: string } {
  // no instanceof Error: node's errors may come from another realm (a vm context, as in Jest)
  const err = e as { code?: unknown; message?: unknown } | null;
  return typeof err?.code === "string" && err.code.startsWith("Z_") && typeof err.message === "string";
}

/**
 * "deflate" is meant to be zlib-wrapped (RFC 9110), but some servers send raw deflate: tell them
 * apart by the zlib header (CM 8, header checksum a multiple of 31), as browsers and curl do.
 */
function decoder(coding: ContentCoding, first: Buffer): Transform {
  if (coding === "gzip") return zlib.createGunzip();
  const wrapped = first.length >= 2 && (first[0] & 0x0f) === 8 && ((first[0] << 8) | first[1]) % 31 === 0;
  return wrapped ? zlib.createInflate() : zlib.createInflateRaw();
}

/**
 * Decode `body` while streaming. Memory stays at zlib's chunk size whatever the ratio; past `limit`
 * decoded bytes the decoding stops with `tooLarge()` (a decompression bomb is never buffered).
 * Errors of `body` pass through; corrupt data throws zlib's error (see isZlibError). `release`
 * frees the source at once when decoding stops early (else a pending read holds it open).
 */
export async function* decodeStream(
  body: AsyncIterable<Buffer>,
  coding: ContentCoding,
  opts: { limit?: number; tooLarge?: () => Error; release?: () => void } = {},
): AsyncGenerator<Buffer, void, undefined> {
  const { limit = Infinity, tooLarge = () => new Error(`decoded data over ${limit} bytes`), release } = opts;
  const it = body[Symbol.asyncIterator]();
  let src: Readable | undefined;
  let z: Transform | undefined;
  try {
    const head = await it.next();
    if (head.done) return; // an empty body is an empty document, as browsers and curl read it
    const first = head.value;
    z = decoder(coding, first);
    src = Readable.from(
      (async function* () {
        yield first;
        for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
      })(),
      { objectMode: false },
    );
    // a failure of either side destroys the decoder with that error, which the loop below throws;
    // the promise itself only needs a handler (it rejects on an early stop as well)
    pipeline(src, z).catch(() => undefined);
    let n = 0;
    for await (const out of z as AsyncIterable<Buffer>) {
      n += out.length;
      if (n > limit) throw tooLarge();
      yield out;
    }
  } finally {
    src?.destroy();
    z?.destroy();
    release?.();
    // let the source run its own clean-up (it ends at once, released)
    await it.return?.().catch(() => undefined);
  }
}

/** ETOO_LARGE: what `url` sent with Content-Encoding `coding` decodes to more than `maxBytes`. */
export function decodedTooLarge(
  field: string,
  url: string,
  coding: ContentCoding,
  maxBytes: number,
  hint: string | undefined,
): AttuneError {
  return new AttuneError(
    ErrorCodes.ETOO_LARGE,
    `${field}: ${redactUrl(url)} (Content-Encoding: ${coding}) decodes to more than the ${maxBytes}-byte cap`,
    { details: { field, maxBytes, limit: "download", decoded: true, url: redactUrl(url) }, hint },
  );
}

/**
 * The body of a `decode` request: decoded per its Content-Encoding (checked when the body is read,
 * so an error page of any coding is still reported by its status), with the cap on the decoded
 * bytes too. The encoded bytes stay capped and checked for truncation by `raw`.
 */
export async function* decodedBody(
  res: http.IncomingMessage,
  raw: AsyncGenerator<Buffer, void, undefined>,
  dispose: () => void,
  url: URL,
  maxBytes: number,
  capHint: string | undefined,
  field: string,
): AsyncGenerator<Buffer, void, undefined> {
  let coding: ContentCoding | null;
  try {
    coding = contentCoding(res.headers["content-encoding"], field, url);
  } catch (e) {
    dispose(); // `raw` never started: its own clean-up would not run
    throw e;
  }
  if (coding === null) return yield* raw;
  const header = `Content-Encoding: ${coding}`;
  const tooLarge = () => decodedTooLarge(field, url.href, coding, maxBytes, capHint);
  try {
    yield* decodeStream(raw, coding, { limit: maxBytes, tooLarge, release: () => res.destroy() });
  } catch (e) {
    if (!isZlibError(e)) throw e;
    throw new AttuneError(
      ErrorCodes.EFETCH,
      `${field}: ${redactUrl(url.href)} was sent with ${header} but is not valid ${coding} data: ${quoteRemote(e.message)}`,
      {
        cause: e,
        details: { field, url: redactUrl(url.href), contentEncoding: coding },
        hint: "the server labels the body with a Content-Encoding it does not have, or sent it damaged: fix the server's Content-Encoding (metadata), then retry",
      },
    );
  }
}
