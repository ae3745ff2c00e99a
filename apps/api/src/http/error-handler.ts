import type { ErrorRequestHandler, RequestHandler } from "express";
import { isAttuneError, redactUrlsIn } from "@attune/pack-storage";
import { bodyNotAnObject } from "./validate";
import {
  HttpProblem,
  problemType,
  scrubPaths,
  sendProblem,
  statusForCode,
  titleFor,
  type Problem,
} from "./problem";

/** Request field names as the API spells them (the libraries name their camelCase options). */
export function toApiField(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

interface BodyParserError extends Error {
  type?: string;
  status?: number;
  limit?: number;
  /** the raw body that failed to parse (body-parser sets it) */
  body?: unknown;
  /** what body-parser could not decode: the Content-Type's charset, the Content-Encoding */
  charset?: unknown;
  encoding?: unknown;
}

/** The JSON type of a body that parses but is not an object or array (null, a string, a number). */
function scalarJsonType(raw: unknown): string | null {
  if (typeof raw !== "string") return null;
  try {
    const v: unknown = JSON.parse(raw);
    return v === null ? "null" : typeof v === "object" ? null : typeof v;
  } catch {
    return null;
  }
}

function bodyTooLarge(limit: number | undefined): HttpProblem {
  return new HttpProblem(413, "ETOO_LARGE", `the request body exceeds the limit of ${limit} bytes`, {
    errors: [{ field: "body", message: `larger than ${limit} bytes` }],
    hint: "send a smaller body: an install request names its source, it does not carry the pack",
  });
}

/**
 * A body whose declared Content-Length is over the limit is refused before any of it is read:
 * body-parser drained a refused body before it answered, so a client that declared a huge length
 * and sent a few bytes waited for its answer until the server's request timeout. The answer goes
 * out at once; Node then discards the rest of the body (within the request timeout), so a client
 * still sending reads its 413 instead of a broken pipe (sendProblem keeps the connection open).
 */
export function refuseDeclaredOversize(limit: number): RequestHandler {
  return (req, _res, next) => {
    if (!(Number(req.headers["content-length"]) > limit)) return next();
    next(bodyTooLarge(limit));
  };
}

function fromBodyParser(err: BodyParserError, path: string): HttpProblem | undefined {
  switch (err.type) {
    case "entity.parse.failed": {
      // valid JSON, but a bare null, string or number: the body's shape is wrong, not its syntax
      const scalar = scalarJsonType(err.body);
      if (scalar) return bodyNotAnObject(scalar, path);
      return new HttpProblem(400, "EINVALID_JSON", "the request body is not valid JSON", {
        errors: [{ field: "body", message: "malformed JSON" }],
        hint: "send a JSON object with Content-Type: application/json",
      });
    }
    case "entity.too.large":
      return bodyTooLarge(err.limit);
    case "charset.unsupported": {
      const charset = typeof err.charset === "string" ? err.charset : "";
      return new HttpProblem(
        415,
        "EUNSUPPORTED_MEDIA_TYPE",
        `unsupported charset ${JSON.stringify(charset)}`,
        {
          errors: [{ field: "Content-Type", message: `charset ${JSON.stringify(charset)} is not supported` }],
          hint: "send the JSON body in UTF-8 (Content-Type: application/json, or with charset=utf-8)",
        },
      );
    }
    case "encoding.unsupported": {
      const encoding = typeof err.encoding === "string" ? err.encoding : "";
      return new HttpProblem(
        415,
        "EUNSUPPORTED_MEDIA_TYPE",
        `unsupported content encoding ${JSON.stringify(encoding)}`,
        {
          errors: [{ field: "Content-Encoding", message: `${JSON.stringify(encoding)} is not supported` }],
          hint: "send the body as it is (no Content-Encoding), or compressed with gzip, deflate or br",
        },
      );
    }
    default:
      return fromClientError(err);
  }
}

/**
 * Other errors that Express's router and body-parser mark as the client's (status 4xx): a path
 * parameter that is not valid percent-encoding, a compressed body that does not inflate, a body
 * shorter than its Content-Length. Anything else stays a 500.
 */
function fromClientError(err: BodyParserError): HttpProblem | undefined {
  const status = err?.status;
  if (typeof status !== "number" || status < 400 || status > 499) return undefined;
  if (err instanceof URIError) {
    // not the router's own words ("Failed to decode param …"): the instance names the path
    return new HttpProblem(400, "EINVALID_INPUT", "the URL path is not valid percent-encoding", {
      errors: [{ field: "path", message: "malformed percent-encoding" }],
      hint: "percent-encode each path segment (encodeURIComponent), e.g. %25 for %",
    });
  }
  return new HttpProblem(400, "EINVALID_JSON", `the request body could not be read: ${err.message}`, {
    errors: [{ field: "body", message: err.message }],
    hint: "send the JSON body whole, uncompressed or with the Content-Encoding it was compressed with",
  });
}

/**
 * The path of a request target, without its query. An absolute-form target (`GET http://host/…`,
 * which Node accepts and Express routes by its path) gives only its path: the problem's `instance`
 * never echoes a host the client made up.
 */
function pathOf(target: string): string | undefined {
  if (target.startsWith("/")) return target.split("?")[0];
  try {
    return new URL(target).pathname;
  } catch {
    return undefined; // `*` (OPTIONS *) has no path
  }
}

const CHECKSUM = /^sha256:[0-9a-f]{64}$/;

/** A checksum mismatch names both values, so a client can tell a stale pin from a tampered source. */
function integrityOf(details: Record<string, unknown> | undefined): Pick<Problem, "expected" | "actual"> {
  const { expected, found } = details ?? {};
  if (typeof expected !== "string" || typeof found !== "string") return {};
  if (!CHECKSUM.test(expected) || !CHECKSUM.test(found)) return {};
  return { expected, actual: found };
}

/** A lock that waited too long names its holder, so an operator can look at that process. */
function holderOf(code: string, details: Record<string, unknown> | undefined): Pick<Problem, "holder"> {
  const holder = details?.holder as { pid?: unknown; host?: unknown } | undefined;
  if (code !== "ELOCKED" || typeof holder !== "object" || holder === null) return {};
  const { pid, host } = holder;
  if (!Number.isSafeInteger(pid) || (pid as number) <= 0 || typeof host !== "string") return {};
  return { holder: { pid: pid as number, host } };
}

/**
 * The only place an error becomes an HTTP response. Library errors keep their code and a
 * path-scrubbed message when they are the caller's fault (4xx) or an upstream's (502/504), or
 * when a write was refused because the packs directory is not the store the server opened (503,
 * `details.storeLost`: the operator's to mend, and the message says how); everything else is a
 * 500 whose body says nothing about paths or stacks (the log has them).
 */
export function errorHandler(privatePaths: string[]): ErrorRequestHandler {
  return (err, req, res, next) => {
    if (res.headersSent) return next(err);
    const requestId = String(req.id ?? "");
    const instance = pathOf(req.originalUrl);
    const base = { ...(instance ? { instance } : {}), request_id: requestId };
    const problem = err instanceof HttpProblem ? err : fromBodyParser(err as BodyParserError, instance ?? "");
    if (problem) {
      const body: Problem = {
        type: problemType(problem.code),
        title: titleFor(problem.status),
        status: problem.status,
        detail: problem.message,
        code: problem.code,
        ...base,
        ...(problem.extra.hint ? { hint: problem.extra.hint } : {}),
        ...(problem.extra.errors ? { errors: problem.extra.errors } : {}),
      };
      return sendProblem(res, body, problem.extra.headers);
    }
    // pino-http logs res.err with its stack, so the details are in the server log only.
    res.err = err as Error;
    if (isAttuneError(err)) {
      const rawField = typeof err.details?.field === "string" ? err.details.field : undefined;
      const field = rawField ? toApiField(rawField) : undefined;
      // the server's packs directory is not the store it opened (emptied or replaced under it): a
      // write is refused until an operator mends it; not the caller's fault, and /readyz says 503 too
      const storeLost = err.details?.storeLost === true;
      // the database cannot be reached or does not answer (a connect or statement timeout): the
      // operator's to mend, and likely to pass; the body says so without naming the database
      const dbUnavailable = err.code === "EDATABASE" && err.details?.unavailable === true;
      const status = storeLost || dbUnavailable ? 503 : statusForCode(String(err.code), field);
      const clientVisible = status < 500 || status === 502 || status === 504 || storeLost;
      const detail = clientVisible
        ? // no secret query of a URL the library quoted (each source redacts its own; this is the last net)
          redactUrlsIn(scrubPaths(err.message, privatePaths))
        : dbUnavailable
          ? `the database is not answering or cannot be reached; retry later (the server log has the details under request id ${requestId})`
          : `the server failed (${err.code}); the server log has the details under request id ${requestId}`;
      const body: Problem = {
        type: problemType(String(err.code)),
        title: titleFor(status),
        status,
        detail,
        code: String(err.code),
        ...base,
        ...(clientVisible && err.hint ? { hint: redactUrlsIn(scrubPaths(err.hint, privatePaths)) } : {}),
        ...(field ? { errors: [{ field, message: detail }] } : {}),
        ...integrityOf(err.details),
        ...holderOf(String(err.code), err.details),
      };
      const headers: Record<string, string> =
        status === 401 ? { "WWW-Authenticate": "Bearer" } : dbUnavailable ? { "Retry-After": "5" } : {};
      return sendProblem(res, body, headers);
    }
    sendProblem(res, {
      type: problemType("EINTERNAL"),
      title: titleFor(500),
      status: 500,
      detail: `unexpected server error; the server log has the details under request id ${requestId}`,
      code: "EINTERNAL",
      ...base,
    });
  };
}

export const notFound: RequestHandler = (req, _res, next) => {
  next(
    new HttpProblem(404, "ENOTFOUND", `no route ${req.method} ${req.path}`, {
      hint: "the routes are listed in GET /api/v1/openapi.json (paths are lower case, under /api/v1)",
    }),
  );
};

/**
 * Terminal handler of a known path: the path exists but not with this method. Express answers HEAD
 * wherever there is a GET, so `Allow` names HEAD there too.
 */
export function methodNotAllowed(allowed: string[]): RequestHandler {
  const methods = allowed.flatMap((m) => (m === "GET" && !allowed.includes("HEAD") ? ["GET", "HEAD"] : [m]));
  const allow = methods.join(", ");
  return (req, _res, next) => {
    next(
      new HttpProblem(
        405,
        "EMETHOD_NOT_ALLOWED",
        `${req.method} is not allowed on ${req.baseUrl}${req.path}; use ${allow}`,
        {
          headers: { Allow: allow },
          hint: `use ${allow} (the Allow header), as GET /api/v1/openapi.json describes`,
        },
      ),
    );
  };
}
