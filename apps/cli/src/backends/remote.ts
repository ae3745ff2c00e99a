/**
 * Remote mode: the pack commands over the HTTP API (DESIGN.md §11). Problem responses become
 * CliErrors carrying the problem's `code`, so they render and exit exactly like local errors.
 * The token is only ever put in the Authorization header, never in a message.
 */
import fs from "node:fs";
import path from "node:path";
import { redactUrl } from "@attune/pack-storage";
import { CliError } from "../errors";
import type { HttpPermission, Place } from "../handlers/settings";
import {
  verifyReport,
  warnIfUnrecorded,
  type DependencyWarnings,
  type InstallArgs,
  type InstallResult,
  type Json,
  type PackBackend,
  type PackRecord,
  type Pagination,
  type SearchHit,
  type VerifyReport,
} from "./types";

const STATUS_CODES: Record<number, string> = {
  400: "EINVALID_INPUT",
  401: "EUNAUTHORIZED",
  403: "EFORBIDDEN",
  404: "ENOTFOUND",
  409: "ECONFLICT",
  413: "ETOO_LARGE",
  422: "EINTEGRITY",
  502: "EFETCH",
  504: "ETIMEOUT",
};

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** A URL typed as --api-url: a bad one is a usage error (exit 2). */
const TYPED_API_URL: Place = {
  name: "--api-url",
  code: "EUSAGE",
  hint: "e.g. --api-url https://attune.example.com",
};

/** Plain http refused, as when allow_http is nowhere set. */
const NO_HTTP: HttpPermission = {
  allowed: () => false,
  howToAllow: "set ATTUNE_ALLOW_HTTP=true or allow_http: true in config.yaml",
};

/**
 * The API's base URL. `place` says where the URL was given (apiUrlPlace): a bad one from the
 * environment or config.yaml is ECONFIG naming the variable or the key, not the flag. `http`:
 * whether allow_http (ATTUNE_ALLOW_HTTP or config.yaml) lets plain http carry the token
 * (httpPermission).
 */
export function apiBase(
  apiUrl: string,
  http: HttpPermission = NO_HTTP,
  place: Place = TYPED_API_URL,
): string {
  let u: URL;
  try {
    u = new URL(apiUrl);
  } catch {
    throw new CliError(place.code, `${place.name} "${redactUrl(apiUrl)}" is not a URL`, { hint: place.hint });
  }
  if (u.protocol !== "http:" && u.protocol !== "https:")
    throw new CliError(place.code, `${place.name} must be http(s), got ${u.protocol}`, { hint: place.hint });
  // nothing listens on port 0: said now, not as a connection failure later
  if (u.port === "0")
    throw new CliError(place.code, `${place.name} "${redactUrl(apiUrl)}" has port 0`, { hint: place.hint });
  if (u.username || u.password)
    throw new CliError(place.code, `${place.name} must not contain credentials`, {
      hint:
        place === TYPED_API_URL
          ? "pass the token with --token or ATTUNE_TOKEN"
          : `remove the user name and password from ${place.name}; pass the token with --token or ATTUNE_TOKEN`,
    });
  // The token would cross the network in clear: plain http only to this machine, or when allowed.
  if (u.protocol === "http:" && !LOOPBACK.has(u.hostname) && !http.allowed())
    throw new CliError(
      "EPOLICY",
      `refusing plain http to ${u.host}: the API token and the answers would cross the network in clear`,
      { hint: `use an https:// API URL, or on a trusted network ${http.howToAllow}` },
    );
  return u.origin + u.pathname.replace(/\/+$/, "").replace(/\/api\/v1$/, "");
}

export class ApiClient {
  constructor(
    readonly base: string,
    private readonly token: string | undefined,
  ) {}

  async request<T>(method: string, path: string, body?: unknown, timeoutMs = 60_000): Promise<T> {
    return (await this.envelope<T>(method, path, body, timeoutMs)).data;
  }

  /** The whole `{data, ...}` envelope (list responses carry `pagination` next to `data`). */
  async envelope<T>(
    method: string,
    path: string,
    body?: unknown,
    timeoutMs = 60_000,
  ): Promise<{ data: T; pagination?: { total_pages?: number } }> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.token) headers.authorization = `Bearer ${checkToken(this.token)}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const where = `${method} ${this.base}/api/v1${path}`;
    const failed = (err: unknown, reading: boolean) => {
      const timeout = (err as Error).name === "TimeoutError";
      return new CliError(
        timeout ? "ETIMEOUT" : "EFETCH",
        `${where}: ${timeout ? `no complete answer within ${timeoutMs / 1000} s` : reading ? "the answer was cut off" : "cannot reach the Attune API"} (${this.hide(causeText(err))})`,
        { hint: "check --api-url / ATTUNE_API_URL and that the API is running", cause: err },
      );
    };
    let res: Response;
    let text: string;
    // one deadline for the answer and its body; redirects are refused below ("manual": with
    // "error", Node 20's fetch stopped honouring the abort once the body had begun)
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      res = await fetch(`${this.base}/api/v1${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        redirect: "manual",
      });
    } catch (err) {
      throw failed(err, false);
    }
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel().catch(() => undefined);
      throw new CliError("EFETCH", `${where}: the API answered with a redirect (${res.status})`, {
        hint: `give its final URL as --api-url${res.headers.get("location") ? ` (it points at ${res.headers.get("location")})` : ""}`,
      });
    }
    try {
      text = await readCapped(res, MAX_ANSWER_BYTES, signal);
    } catch (err) {
      if (err instanceof CliError) throw err;
      throw failed(err, true);
    }
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!res.ok) throw problemError(res.status, json, text, Boolean(this.token));
    const data = json && typeof json === "object" ? (json as { data?: unknown }).data : undefined;
    if (data === undefined || data === null)
      throw new CliError("EFETCH", `${where}: the API answered without a "data" member`, {
        hint: "check that --api-url points at an Attune API",
      });
    return json as { data: T; pagination?: { total_pages?: number } };
  }

  /** The token never appears in a message, whatever a library quoted back. */
  private hide(text: string): string {
    return this.token ? text.split(this.token).join("***") : text;
  }
}

/** Answers are small JSON documents: a body past this is refused, not buffered without end. */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/**
 * The body as text, at most `max` bytes. `signal` is the request's deadline: held here until the
 * body is read (an AbortSignal.timeout nothing references any more can be collected before it
 * fires, and a stalled body then waits for ever).
 */
async function readCapped(res: Response, max: number, signal: AbortSignal): Promise<string> {
  if (!res.body) return "";
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    signal.throwIfAborted();
    n += chunk.length;
    if (n > max) {
      await res.body.cancel().catch(() => undefined);
      throw new CliError("ETOO_LARGE", `the API's answer is larger than ${max} bytes`, {
        hint: "check that --api-url points at an Attune API",
      });
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts).toString("utf8");
}

/**
 * An HTTP header carries visible ASCII only: a token with a line break, a space or a non-ASCII
 * character (a bad paste) is refused here, naming where it came from but never echoing it
 * (fetch's own error quoted the whole header value).
 */
function checkToken(token: string): string {
  if (!/^[\x21-\x7e]+$/.test(token))
    throw new CliError(
      "EUSAGE",
      "the API token (--token, ATTUNE_TOKEN or config.yaml token) holds a character an HTTP header cannot carry",
      { hint: "copy the token again: it is one word of letters, digits and _ (no spaces or line breaks)" },
    );
  return token;
}

function causeText(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}

const CHECK_API_URL =
  "check that --api-url (ATTUNE_API_URL) is the Attune API's base URL, the part before /api/v1";

/**
 * A schema refusal's detail only lists the fields ("invalid body: ref_spec"); the reasons are in
 * `errors`: say them too, so the user learns what is wrong with each field.
 */
function withFieldReasons(detail: string, errors: unknown): string {
  if (!/^invalid [a-z]+: /.test(detail) || !Array.isArray(errors)) return detail;
  const reasons = errors
    .filter(
      (e): e is { field: string; message: string } =>
        typeof e?.field === "string" && typeof e?.message === "string" && e.message !== "",
    )
    .map((e) => `${e.field}: ${e.message}`);
  return reasons.length ? `${detail.replace(/: .*$/, "")}: ${reasons.join("; ")}` : detail;
}

/**
 * The API's hint for a missing or refused token speaks HTTP ("send Authorization: Bearer <token>");
 * a CLI user passes one with --token or ATTUNE_TOKEN, created where the API's database is.
 */
function unauthorizedHint(tokenGiven: boolean): string {
  const create = "create one with `attune token create` on the API server's machine";
  return tokenGiven
    ? `pass a valid token with --token or ATTUNE_TOKEN (${create}; \`attune token list\` there shows whether this one expired or was revoked)`
    : `pass a token with --token or set ATTUNE_TOKEN (${create})`;
}

function problemError(status: number, json: unknown, text: string, tokenGiven: boolean): CliError {
  const p = (json && typeof json === "object" ? json : {}) as Record<string, unknown>;
  // not an Attune problem body (an HTML error page of another server): say so, never quote the page
  if (typeof p.code !== "string")
    return new CliError(
      STATUS_CODES[status] ?? "EFETCH",
      `the server answered HTTP ${status} without an Attune error body (is it an Attune API?)`,
      { hint: CHECK_API_URL, details: { status, body: text.slice(0, 200) } },
    );
  const detail = withFieldReasons(
    typeof p.detail === "string" ? p.detail : typeof p.title === "string" ? p.title : `HTTP ${status}`,
    p.errors,
  );
  // an Attune API that has no such route: the URL's path is wrong, not the pack
  const hint =
    p.code === "ENOTFOUND" && /^no route /.test(detail)
      ? CHECK_API_URL
      : p.code === "EUNAUTHORIZED"
        ? unauthorizedHint(tokenGiven)
        : typeof p.hint === "string"
          ? p.hint
          : undefined;
  return new CliError(p.code, `${detail} (API status ${status})`, { hint, details: p });
}

/** Normalise a list item: `{pack, installation}` or a pack carrying its `installation`. */
function toRecord(item: Json): PackRecord {
  if (item && typeof item === "object" && "pack" in item)
    return { pack: item.pack as Json, installation: (item.installation as Json) ?? null };
  const { installation, ...pack } = item;
  return { pack, installation: (installation as Json) ?? null };
}

const enc = encodeURIComponent;

export function openRemoteBackend(
  apiUrl: string,
  token: string | undefined,
  place?: Place,
  http?: HttpPermission,
): PackBackend {
  const api = new ApiClient(apiBase(apiUrl, http, place), token);
  const backend: PackBackend = {
    mode: "remote",
    async install(req: InstallArgs, onProgress) {
      onProgress?.({ phase: "install", message: `on ${new URL(api.base).host}` });
      const body = {
        // A path that exists here is sent absolute: the server's working directory is not ours.
        source: remoteSource(req.source),
        ref_spec: req.ref,
        force: req.force,
        checksum: req.checksum,
        skip_deps: req.skipDeps,
        skip_tests: req.skipTests,
        registry: req.registry,
        refresh: req.refresh,
      };
      return api.request<InstallResult>("POST", "/packs/install", body, 30 * 60_000);
    },
    async uninstall(ref, version, skipDeps) {
      const q = new URLSearchParams();
      if (version) q.set("version", version);
      if (skipDeps) q.set("skip_deps", "true");
      const qs = q.size > 0 ? `?${q}` : "";
      const data = await api.request<Json>("DELETE", `/packs/${enc(ref)}${qs}`);
      // uninstalled, files left on the server: the same failure (exit 1) as in local mode
      if (typeof data.files_error === "string") {
        const m = /^(E[A-Z0-9_]+): ([\s\S]*)$/.exec(data.files_error);
        throw new CliError(m?.[1] ?? "EIO", m?.[2] ?? data.files_error, {
          hint: "the server removes them on its next write on the store, once the cause is mended",
        });
      }
      return { ref, removed: [], ...data } as { ref: string; removed: string[] } & DependencyWarnings;
    },
    async list(sourceType) {
      const out: PackRecord[] = [];
      for (let page = 1; ; page++) {
        const q = new URLSearchParams({ page: String(page), page_size: "100" });
        if (sourceType) q.set("source_type", sourceType);
        const res = await fetchPage(api, `/packs?${q}`);
        out.push(...res.data.map(toRecord));
        if (page >= res.totalPages) return out;
      }
    },
    async show(ref) {
      const data = await api.request<Json>("GET", `/packs/${enc(ref)}`);
      const rec = toRecord(data);
      if (!rec.installation)
        rec.installation = await api.request<Json>("GET", `/packs/${enc(ref)}/installation`);
      return rec;
    },
    history: (ref) => api.request<Json[]>("GET", `/packs/${enc(ref)}/history`),
    async historyPage(ref, { page, pageSize }) {
      const q = new URLSearchParams({ page: String(page), page_size: String(pageSize) });
      const path = `/packs/${enc(ref)}/history?${q}`;
      const body = await api.envelope<Json[]>("GET", path);
      const p = body.pagination as Partial<Pagination> | undefined;
      if (!Array.isArray(body.data) || typeof p?.total_items !== "number")
        throw new CliError("EFETCH", `GET /api/v1${path}: the API answered without a page of events`, {
          hint: "check that --api-url points at an Attune API that pages histories",
        });
      return {
        data: body.data,
        pagination: {
          page: Number(p.page),
          page_size: Number(p.page_size),
          total_items: p.total_items,
          total_pages: Number(p.total_pages),
        },
      };
    },
    async verify(ref) {
      const data = await api.request<VerifyReport & { history_error?: string | null }>(
        "POST",
        `/packs/${enc(ref)}/verify`,
        {},
        30 * 60_000,
      );
      warnIfUnrecorded(ref, data.history_error);
      return verifyReport({ ...data, ref });
    },
    async verifyAll() {
      const packs = await backend.list();
      const out: VerifyReport[] = [];
      for (const p of packs) {
        // uninstalled by someone else since the list: left out, as the local --all does
        const report = await backend.verify(String(p.pack.ref)).catch((e: unknown) => {
          if ((e as { code?: unknown })?.code === "ENOTFOUND") return null;
          throw e;
        });
        if (report) out.push(report);
      }
      return out;
    },
    async search(text, refresh) {
      const q = refresh ? "&refresh=true" : "";
      const body = await api.envelope<SearchHit[]>("GET", `/registries/search?q=${enc(text)}${q}`);
      const states = ((body as { registries?: unknown }).registries ?? []) as Array<{
        name: string;
        status: string;
        error: { code: string; detail: string; hint?: string | null } | null;
        age_seconds?: number | null;
      }>;
      const problems = states
        .filter((st) => st.status === "stale" || st.status === "error")
        .map((st) => ({
          registry: st.name,
          status: st.status as "stale" | "error",
          detail: st.error ? `${st.error.code}: ${st.error.detail}` : null,
          // the server's own settings: said as such
          hint: typeof st.error?.hint === "string" ? `on the API server: ${st.error.hint}` : null,
          ageSeconds: st.age_seconds ?? null,
        }));
      // the API lists every registry it searched: an empty list is a server without any (an
      // API that does not list them says nothing either way)
      const listed = (body as { registries?: unknown }).registries;
      const nothingSearched = Array.isArray(listed) && listed.length === 0 ? "none-on-server" : undefined;
      return { hits: body.data, problems, nothingSearched };
    },
    close: async () => undefined,
  };
  return backend;
}

async function fetchPage(api: ApiClient, path: string): Promise<{ data: Json[]; totalPages: number }> {
  const body = await api.envelope<Json[]>("GET", path);
  if (!Array.isArray(body.data)) throw new CliError("EFETCH", `GET /api/v1${path}: "data" is not a list`);
  return { data: body.data, totalPages: Number(body.pagination?.total_pages ?? 1) };
}

/**
 * The source as the API must see it. A path that exists here is sent absolute (the API reads it on
 * its own machine, which is this one when the API runs here). A relative path that does not exist
 * here is refused: the API would resolve it against its own working directory, and could install
 * another directory than the one meant. URLs, registry refs and absolute paths pass through.
 */
function remoteSource(source: string): string {
  if (fs.existsSync(source)) return path.resolve(source);
  const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(source);
  if (!url && !path.isAbsolute(source) && (source.startsWith(".") || source.includes("/")))
    throw new CliError("ENOENT", `${source}: no such file or directory here`, {
      hint: "in remote mode the API reads local paths on its own machine: give the absolute path there",
    });
  return source;
}
