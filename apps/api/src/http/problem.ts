import os from "node:os";
import path from "node:path";
import type { Response } from "express";

/** RFC 9457 problem details, plus the product's stable `code` and per-field `errors`. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  request_id?: string;
  hint?: string;
  errors?: Array<{ field: string; message: string }>;
  /** EINTEGRITY: the checksum that was expected and the one found */
  expected?: string;
  actual?: string;
  /** ELOCKED: the process that holds the lock, when the lock names it (an embedded store on Linux) */
  holder?: { pid: number; host: string };
}

/** A problem the HTTP layer raises itself (validation, auth, routing); the error middleware renders it. */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
    readonly extra: { errors?: Problem["errors"]; hint?: string; headers?: Record<string, string> } = {},
  ) {
    super(detail);
    this.name = "HttpProblem";
  }
}

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/**
 * Library error code -> HTTP status (docs/CONTRACTS.md). EDEPENDENCY is 409: the request is
 * well-formed but conflicts with what is installed. Unknown codes fall through to 500.
 */
const STATUS_BY_CODE: Record<string, number> = {
  EINTEGRITY: 422,
  EINVALID_REF: 400,
  EINVALID_VERSION: 400,
  EINVALID_CHECKSUM: 400,
  EINVALID_INPUT: 400,
  EMANIFEST: 400,
  EINDEX: 400,
  EUNSAFE_ARCHIVE: 400,
  ESYMLINK: 400,
  ESPECIAL_FILE: 400,
  EBAD_FILENAME: 400,
  ECONFIG: 400,
  EPOLICY: 400,
  EDEPENDENCY: 409,
  ETOO_LARGE: 413,
  ENOTFOUND: 404,
  ENOENT: 404,
  ECONFLICT: 409,
  ELOCKED: 409,
  EFETCH: 502,
  ETIMEOUT: 504,
  EUNAUTHORIZED: 401,
  EFORBIDDEN: 403,
  // the operation was cancelled (the server is shutting down): retry later, not the caller's fault
  EABORTED: 503,
};

export function statusForCode(code: string, field?: string): number {
  // ENOENT about a request field (the `source` path) is the caller's mistake, not a missing resource;
  // so is an EIO the library attributes to it (a source path the server may not read)
  if ((code === "ENOENT" || code === "EIO") && field) return 400;
  return STATUS_BY_CODE[code] ?? 500;
}

export function problemType(code: string): string {
  return `urn:attune:problem:${code.toLowerCase()}`;
}

export function titleFor(status: number): string {
  return TITLES[status] ?? (status >= 500 ? "Server Error" : "Error");
}

/**
 * Replace server-private directories (home, packs dir, this product's temp dirs) in a message, so
 * a 4xx detail can name the offending entry without revealing the server's layout. Only whole
 * path components match, and of the temp dir only the product's own `attune-*` entries: a path
 * the client sent itself (say, under /tmp) comes back as it was sent.
 */
export function scrubPaths(text: string, privatePaths: string[]): string {
  const roots = privatePaths.filter((p) => p && p.length > 1).sort((a, b) => b.length - a.length);
  let out = text;
  for (const root of roots) out = out.replace(componentPrefix(root), "<server>");
  return out.replace(componentPrefix(path.join(os.tmpdir(), "attune-"), false), "<server>/attune-");
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** `dir` where it starts a path component in a text; `whole`: and ends one (not /home in /homework). */
function componentPrefix(dir: string, whole = true): RegExp {
  return new RegExp(`(?<![\\w.-])${escapeRegExp(dir)}${whole ? "(?![\\w.-])" : ""}`, "g");
}

/**
 * The request declares a body (RFC 9112 §6.3: Transfer-Encoding, or a Content-Length over 0) that
 * has not all been received. A request without one (a GET, HTTP/1.0 or not) is never "incomplete"
 * in this sense, though Node only marks it complete once something has read its empty stream.
 */
function bodyStillComing(req: Response["req"]): boolean {
  if (req.complete) return false;
  if (req.headers["transfer-encoding"] !== undefined) return true;
  const length = Number(req.headers["content-length"] ?? 0);
  return length !== 0; // a malformed length never gets here: Node's parser refuses it
}

/**
 * Send a problem. One answered before its request's body was all received (an install refused for
 * its token or scope, a body declared over the limit, a route that does not exist) says
 * `Connection: keep-alive` unless a header already says otherwise: Node then discards the rest of
 * the body (within the request timeout) and the client, still sending, reads the answer. For a
 * client that asked for `Connection: close` (Node's http client without an agent, Python's
 * urllib, curl --no-keepalive), Node would otherwise close the socket as soon as the answer was
 * written, and the client's next write of its body failed with a broken pipe before it could
 * read why; such a client still closes once it has sent its body and read the answer.
 */
export function sendProblem(res: Response, problem: Problem, headers: Record<string, string> = {}): void {
  if (bodyStillComing(res.req) && !res.hasHeader("Connection")) res.setHeader("Connection", "keep-alive");
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.status(problem.status).type("application/problem+json").send(JSON.stringify(problem));
}
