import type { GitHttpRequest, GitHttpResponse, HttpClient } from "isomorphic-git";
import { AttuneError, ErrorCodes, redactUrl } from "@attune/pack-storage";
import type { OutboundPolicy } from "../policy/outbound-policy";
import { quoteRemote } from "../quote";
import { DOWNLOAD_CAP_HINT, scopedHeaders } from "./request";
import { packOfUploadPack, PackObjectTooLarge, scanPack } from "../sources/git-sizes";

export const DEFAULT_GIT_TIMEOUT_MS = 10 * 60 * 1000;

export interface GitHttpOptions {
  /** cap on all response bytes of one clone, summed over its requests (default: the policy's download cap) */
  maxBytes?: number;
  /** deadline for the whole clone */
  timeoutMs?: number;
  signal?: AbortSignal;
  onBytes?: (total: number) => void;
  /**
   * Cap on every object of the packs received (the per-file cap): each pack is walked before
   * isomorphic-git sees it, which would otherwise inflate every object whole in memory, however big
   */
  maxObjectBytes?: number;
}

async function collect(body?: AsyncIterableIterator<Uint8Array>): Promise<Buffer | undefined> {
  if (!body) return undefined;
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

/**
 * isomorphic-git's `http` plugin over the policy-checked client, so git traffic obeys the same
 * rules as every other download: DNS check, redirects re-checked, size cap, timeouts, abort.
 */
export function policyGitHttp(policy: OutboundPolicy, opts: GitHttpOptions = {}): HttpClient {
  const maxBytes = opts.maxBytes ?? policy.maxDownloadBytes;
  // each request is capped at what is left of the clone's cap: its error must name the whole cap
  const overCap = (e: unknown, url: string): unknown => {
    if (!(e instanceof AttuneError) || e.code !== ErrorCodes.ETOO_LARGE || e.details?.limit !== "download")
      return e;
    const repo = redactUrl(repoBase(url) ?? url.replace(/\/git-upload-pack$/, ""));
    return new AttuneError(
      ErrorCodes.ETOO_LARGE,
      `source: the clone of ${repo} transferred more than the ${maxBytes}-byte download cap`,
      {
        cause: e,
        details: { field: "source", url: repo, limit: "download", maxBytes },
        hint:
          opts.maxBytes === undefined
            ? `${DOWNLOAD_CAP_HINT}; a commit SHA fetches the whole history, a tag or branch only its own files`
            : undefined,
      },
    );
  };
  const deadline = Date.now() + (opts.timeoutMs ?? DEFAULT_GIT_TIMEOUT_MS);
  let total = 0;
  // where the repository really is, once its info/refs was redirected (see below)
  let moved: { from: string; to: string } | null = null;
  return {
    async request(req: GitHttpRequest): Promise<GitHttpResponse> {
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new AttuneError(ErrorCodes.ETIMEOUT, `source: git clone of ${req.url} took too long`, {
          details: { field: "source" },
        });
      }
      // upload-pack request bodies are small (want/have lines), buffering them allows redirects
      const body = await collect(req.body);
      // Like git, the rest of the clone goes where info/refs was redirected: isomorphic-git would
      // POST git-upload-pack to the old URL, and a 301/302 turns that POST into a bodiless GET.
      const url =
        moved && req.url.startsWith(moved.from) ? moved.to + req.url.slice(moved.from.length) : req.url;
      // the caller's headers (a registry's token) were meant for the repository's first origin: a
      // moved repository on another host gets only the harmless ones, as a redirect would
      const sent =
        url === req.url ? req.headers : scopedHeaders(req.headers, originOf(req.url), new URL(url));
      const res = await policy
        .request(url, {
          method: req.method ?? "GET",
          headers: sent,
          body,
          maxBytes: maxBytes - total,
          timeoutMs: remaining,
          signal: opts.signal,
          field: "source",
        })
        .catch((e: unknown) => {
          throw overCap(e, url);
        });
      async function* counted(): AsyncGenerator<Uint8Array, void, undefined> {
        try {
          for await (const chunk of res.body) {
            total += chunk.length;
            opts.onBytes?.(total);
            yield chunk;
          }
        } catch (e) {
          throw overCap(e, url);
        }
      }
      const from = repoBase(url);
      const to = res.url !== url ? repoBase(res.url) : null;
      if (from && to && from !== to) moved = { from, to };
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers))
        if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(", ") : v;
      let answer: AsyncIterableIterator<Uint8Array> = counted();
      if (
        opts.maxObjectBytes !== undefined &&
        res.status === 200 &&
        /\/git-upload-pack$/.test(new URL(res.url).pathname)
      ) {
        // isomorphic-git collects the whole answer anyway: collect it here, walk its pack, pass it on
        const whole = (await collect(answer)) ?? Buffer.alloc(0);
        checkPack(whole, opts.maxObjectBytes, url);
        answer = (async function* () {
          yield whole;
        })();
      }
      return {
        url: res.url,
        method: req.method,
        statusCode: res.status,
        statusMessage: res.statusMessage,
        headers,
        body: answer,
      };
    },
  };
}

/** The repository URL of a smart-HTTP discovery request (`<repo>/info/refs?service=…`), else null. */
function repoBase(url: string): string | null {
  const i = url.indexOf("/info/refs");
  return i > 0 && /^\/info\/refs(\?|$)/.test(url.slice(i)) ? url.slice(0, i) : null;
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return "";
  }
}

/** Walk the pack of an upload-pack answer (see scanPack); ETOO_LARGE or EFETCH naming the source. */
function checkPack(answer: Buffer, maxObjectBytes: number, url: string): void {
  const pack = packOfUploadPack(answer);
  if (!pack) return; // no pack in it (an error answer): isomorphic-git reports that
  try {
    scanPack(pack, maxObjectBytes);
  } catch (e) {
    if (e instanceof PackObjectTooLarge)
      throw new AttuneError(
        ErrorCodes.ETOO_LARGE,
        `source: ${e.message}, over the cap of ${maxObjectBytes} bytes per file (a repository that unpacks to more than it sends is refused before it is unpacked)`,
        {
          details: { field: "source", limit: "maxEntryBytes", value: e.size },
          hint: "if the repository is genuine, raise ATTUNE_MAX_FILE_BYTES (max_file_bytes); a commit SHA fetches the whole history, a tag or branch only its own files",
        },
      );
    throw new AttuneError(
      ErrorCodes.EFETCH,
      `source: git clone of ${redactUrl(url)}: ${quoteRemote((e as Error).message)}`,
      {
        cause: e,
        details: { field: "source" },
      },
    );
  }
}
