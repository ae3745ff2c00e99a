import type http from "node:http";
import type https from "node:https";
import type tls from "node:tls";
import { createRequire } from "node:module";
import type { LookupFunction } from "node:net";
import { AttuneError, ErrorCodes, redactUrl } from "@attune/pack-storage";
import { quoteRemote } from "../quote";
import type { OutboundPolicy } from "../policy/outbound-policy";
import { decodedBody } from "./content-encoding";

const require = createRequire(import.meta.url);
/**
 * node:http(s) and node:tls, loaded on the first request: loading tls cost every command that
 * imports this package (`pack list`, `verify`, a local install) ~8 ms, for nothing.
 */
const load = {
  http: () => require("node:http") as typeof http,
  https: () => require("node:https") as typeof https,
  tls: () => require("node:tls") as typeof tls,
};

export interface PolicyRequestOptions {
  method?: string;
  /** sent only to the origin of the first URL; a redirect elsewhere keeps only SAFE_HEADERS */
  headers?: Record<string, string>;
  body?: Buffer;
  /** cap on the response body's real bytes (Content-Length is checked early too), and on its decoded bytes with `decode` */
  maxBytes?: number;
  /**
   * decode a Content-Encoding gzip/x-gzip/deflate body (a document, e.g. an index); any other
   * coding is refused when the body is read. Without it the body is the bytes as sent (a file).
   */
  decode?: boolean;
  /** total time for the request, redirects and the whole body */
  timeoutMs?: number;
  /** longest silence on the socket */
  idleTimeoutMs?: number;
  connectTimeoutMs?: number;
  maxRedirects?: number;
  signal?: AbortSignal;
  /** the input field named in errors */
  field?: string;
  /** the hint of a 401/403 answer (a registry's: configure its headers); else: check the URL and access */
  authHint?: string;
}

export interface PolicyResponse {
  /** the final URL after redirects */
  url: string;
  status: number;
  statusMessage: string;
  headers: http.IncomingHttpHeaders;
  /** the body, size-capped; throws ETOO_LARGE / ETIMEOUT / EFETCH (truncated) while iterating */
  body: AsyncGenerator<Buffer, void, undefined>;
  /** release the connection and timers without reading the body */
  dispose(): void;
}

/**
 * `attune/<version>`, sent as the User-Agent of every request whose caller (a registry's configured
 * headers) set none: some CDNs and firewalls refuse a request without one. The version is this
 * package's, read from its package.json on the first request (the packages are versioned together).
 */
let userAgent: string | undefined;
export function defaultUserAgent(): string {
  if (userAgent === undefined) {
    let version: string | undefined;
    try {
      version = (require("@attune/pack-registry/package.json") as { version?: string }).version;
    } catch {
      version = undefined;
    }
    userAgent =
      typeof version === "string" && /^[0-9A-Za-z.+-]+$/.test(version) ? `attune/${version}` : "attune";
  }
  return userAgent;
}

/** The headers with the default User-Agent added, unless they carry one (in any case). */
function withUserAgent(headers: Record<string, string>): Record<string, string> {
  return Object.keys(headers).some((k) => k.toLowerCase() === "user-agent")
    ? headers
    : { ...headers, "user-agent": defaultUserAgent() };
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const SAFE_HEADERS = new Set(["accept", "accept-encoding", "content-type", "user-agent", "git-protocol"]);

/**
 * The headers that may go to `target` when they were given for `firstOrigin`: all of them on that
 * origin, elsewhere only SAFE_HEADERS (a registry's token never follows a redirect to another host).
 */
export function scopedHeaders(
  headers: Record<string, string> | undefined,
  firstOrigin: string,
  target: URL,
): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers ?? {}).filter(
      ([k]) => target.origin === firstOrigin || SAFE_HEADERS.has(k.toLowerCase()),
    ),
  );
}
const DEFAULT_IDLE_MS = 30_000;
const DEFAULT_CONNECT_MS = 15_000;

/** A duration for messages: "30 s", "300 ms". */
export function seconds(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 100) / 10} s` : `${ms} ms`;
}

/** The hint of every cap on the policy's download size: the setting that raises it. */
export const DOWNLOAD_CAP_HINT =
  "if the download is genuine, raise ATTUNE_MAX_DOWNLOAD_BYTES (max_download_bytes in config.yaml)";

const TIMEOUT_HINT = "check that the server is up and answering (and any proxy in between), then retry";

/** The body ended before its Content-Length (or the chunked end): the server or a proxy closed it. */
export function truncated(
  field: string,
  url: URL,
  got: number,
  declared: number,
  cause: unknown,
): AttuneError {
  const of = Number.isFinite(declared) ? ` of ${declared}` : "";
  return new AttuneError(
    ErrorCodes.EFETCH,
    `${field}: the download of ${redactUrl(url.href)} was truncated: the connection closed after ${got}${of} bytes`,
    {
      cause,
      details: { field, url: redactUrl(url.href), truncated: true, bytes: got, ...(of ? { declared } : {}) },
      hint: "retry; if it keeps happening, check the server (or a proxy in between) that serves it",
    },
  );
}

function fetchError(field: string, url: URL, cause: unknown, signal: AbortSignal): AttuneError {
  if (signal.aborted && signal.reason instanceof AttuneError) return signal.reason;
  if (cause instanceof AttuneError) return cause;
  const raw = (cause as Error)?.message ?? String(cause);
  // OpenSSL's messages carry its internals ("…:SSL routines:ssl3_get_record:wrong version
  // number:../deps/openssl/…"): keep the reason, and say what it usually means
  const ssl = /SSL routines:[^:]*:([^:]+)/.exec(raw);
  const msg = ssl ? `TLS handshake failed: ${ssl[1].trim()}` : raw;
  const hint = /wrong version number|packet length too long|http request/i.test(ssl?.[1] ?? "")
    ? "the server does not speak TLS on that port: check https:// against http:// and the port"
    : "check the URL and that the server is reachable, then retry";
  return new AttuneError(
    ErrorCodes.EFETCH,
    `${field}: fetching ${redactUrl(url.href)} failed: ${quoteRemote(msg)}`,
    {
      cause,
      details: { field, url: redactUrl(url.href) },
      hint,
    },
  );
}

/** DNS lookup that refuses any answer holding a disallowed address (see OutboundPolicy.checkAddresses). */
function policyLookup(policy: OutboundPolicy, field: string): LookupFunction {
  return (hostname, options, callback) => {
    policy.resolve(hostname, field).then(
      (addrs) => {
        const family = options.family === 4 || options.family === 6 ? options.family : 0;
        const usable = family ? addrs.filter((a) => a.family === family) : addrs;
        if (options.all) callback(null, usable);
        else if (usable.length === 0)
          callback(Object.assign(new Error(`no IPv${family} address`), { code: "ENOTFOUND" }), "", 0);
        else callback(null, usable[0].address, usable[0].family);
      },
      (err: Error) => callback(err as NodeJS.ErrnoException, "", 0),
    );
  };
}

function send(
  policy: OutboundPolicy,
  u: URL,
  method: string,
  headers: Record<string, string>,
  body: Buffer | undefined,
  signal: AbortSignal,
  opts: PolicyRequestOptions,
  field: string,
): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const mod = u.protocol === "https:" ? load.https() : load.http();
    const idleMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_MS;
    // agent: false -> one connection per request, so every connection went through policyLookup
    const req = mod.request(u, {
      method,
      headers,
      signal,
      agent: false,
      ...(policy.extraCa ? { ca: [...load.tls().rootCertificates, ...policy.extraCa] } : {}),
      lookup: policyLookup(policy, field),
      timeout: idleMs,
    });
    const connectMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_MS;
    const connectTimer = setTimeout(
      () =>
        req.destroy(
          new AttuneError(
            ErrorCodes.ETIMEOUT,
            `${field}: connecting to ${u.host} for ${redactUrl(u.href)} timed out after ${seconds(connectMs)}`,
            { details: { field, url: redactUrl(u.href), timeoutMs: connectMs }, hint: TIMEOUT_HINT },
          ),
        ),
      connectMs,
    );
    connectTimer.unref();
    req.on("socket", (s) => {
      if (!s.connecting) clearTimeout(connectTimer);
      s.once("connect", () => clearTimeout(connectTimer));
    });
    req.on("timeout", () => {
      const err = new AttuneError(
        ErrorCodes.ETIMEOUT,
        `${field}: ${redactUrl(u.href)} sent nothing for ${seconds(idleMs)} (idle timeout)`,
        {
          details: { field, url: redactUrl(u.href), idleTimeoutMs: idleMs },
          hint: `${TIMEOUT_HINT}; the ${seconds(idleMs)} idle timeout is fixed, not a setting`,
        },
      );
      // in the middle of the body the response carries the error to its reader; destroying only
      // the request would make it fail with a bare "aborted"
      const res = (req as { res?: http.IncomingMessage | null }).res;
      if (res && !res.complete) res.destroy(err);
      req.destroy(err);
    });
    req.on("response", (res) => {
      clearTimeout(connectTimer);
      resolve(res);
    });
    req.on("error", (e) => {
      clearTimeout(connectTimer);
      reject(e);
    });
    req.end(body);
  });
}

async function* cappedBody(
  res: http.IncomingMessage,
  url: URL,
  maxBytes: number,
  capHint: string | undefined,
  field: string,
  fail: (e: unknown) => AttuneError,
  done: () => void,
): AsyncGenerator<Buffer, void, undefined> {
  let n = 0;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      n += chunk.length;
      if (n > maxBytes) {
        throw new AttuneError(
          ErrorCodes.ETOO_LARGE,
          `${field}: ${redactUrl(url.href)} sent more than the ${maxBytes}-byte cap`,
          {
            details: { field, maxBytes, limit: "download", url: redactUrl(url.href) },
            hint: capHint,
          },
        );
      }
      yield chunk;
    }
    if (!res.complete) throw new Error("premature end");
  } catch (e) {
    // the server (or a proxy) closed the connection mid-body: node says only "aborted". The bytes
    // received are those yielded plus those still buffered: a reader that was busy (writing to
    // disk) when the connection closed never gets the buffered ones: node throws "aborted" first
    const cut = !(e instanceof AttuneError) && !res.complete;
    const received = n + res.readableLength;
    throw fail(cut ? truncated(field, url, received, Number(res.headers["content-length"]), e) : e);
  } finally {
    done();
    res.destroy();
  }
}

/** One AbortSignal for the total timeout and the caller's signal; the reason is the AttuneError to throw. */
function deadline(ms: number, outer: AbortSignal | undefined, url: string, field: string) {
  const ac = new AbortController();
  const timer = setTimeout(
    () =>
      ac.abort(
        new AttuneError(ErrorCodes.ETIMEOUT, `${field}: ${redactUrl(url)} took longer than ${seconds(ms)}`, {
          details: { field, url: redactUrl(url), timeoutMs: ms },
          hint: TIMEOUT_HINT,
        }),
      ),
    ms,
  );
  timer.unref(); // an abandoned response must not keep a CLI process alive; open sockets still do
  const onAbort = () =>
    ac.abort(
      new AttuneError(ErrorCodes.EFETCH, `${field}: request aborted`, {
        cause: outer?.reason,
        details: { field, aborted: true },
      }),
    );
  if (outer?.aborted) onAbort();
  outer?.addEventListener("abort", onAbort, { once: true });
  const cleanup = () => {
    clearTimeout(timer);
    outer?.removeEventListener("abort", onAbort);
  };
  return { signal: ac.signal, cleanup };
}

/** One policy-checked HTTP exchange: DNS checked per connection, redirects re-checked hop by hop. */
export async function request(
  policy: OutboundPolicy,
  url: string,
  opts: PolicyRequestOptions = {},
): Promise<PolicyResponse> {
  const field = opts.field ?? "url";
  const maxBytes = opts.maxBytes ?? policy.maxDownloadBytes;
  // the policy's cap is a setting; a caller's own cap (an index's) has its own error
  const capHint = opts.maxBytes === undefined ? DOWNLOAD_CAP_HINT : undefined;
  let current = policy.checkUrl(url, field);
  const { signal, cleanup } = deadline(opts.timeoutMs ?? policy.timeoutMs, opts.signal, url, field);
  const firstOrigin = current.origin;
  let method = opts.method ?? "GET";
  let body = opts.body;
  try {
    for (let hop = 0; ; hop++) {
      if (signal.aborted) throw signal.reason;
      const headers = withUserAgent(scopedHeaders(opts.headers, firstOrigin, current));
      const res = await send(policy, current, method, headers, body, signal, opts, field);
      const status = res.statusCode ?? 0;
      if (REDIRECTS.has(status) && res.headers.location) {
        res.destroy();
        if (hop >= (opts.maxRedirects ?? 5)) {
          throw new AttuneError(
            ErrorCodes.EFETCH,
            `${field}: too many redirects from ${redactUrl(String(url))}`,
            {
              details: { field },
            },
          );
        }
        current = policy.checkUrl(new URL(res.headers.location, current).href, field);
        if (status === 303 || ((status === 301 || status === 302) && method === "POST")) {
          method = "GET";
          body = undefined;
        }
        continue;
      }
      const declared = Number(res.headers["content-length"]);
      if (Number.isFinite(declared) && declared > maxBytes) {
        res.destroy();
        throw new AttuneError(
          ErrorCodes.ETOO_LARGE,
          `${field}: ${redactUrl(current.href)} is ${declared} bytes, over the ${maxBytes}-byte cap`,
          {
            details: { field, maxBytes, declared, limit: "download", url: redactUrl(current.href) },
            hint: capHint,
          },
        );
      }
      const final = current;
      const dispose = () => {
        cleanup();
        res.destroy();
      };
      const raw = cappedBody(
        res,
        final,
        maxBytes,
        capHint,
        field,
        (e) => fetchError(field, final, e, signal),
        cleanup,
      );
      return {
        url: final.href,
        status,
        statusMessage: res.statusMessage ?? "",
        headers: res.headers,
        body: opts.decode ? decodedBody(res, raw, dispose, final, maxBytes, capHint, field) : raw,
        dispose,
      };
    }
  } catch (e) {
    cleanup();
    throw fetchError(field, current, e, signal);
  }
}
