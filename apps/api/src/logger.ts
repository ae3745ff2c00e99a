import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { pino, type DestinationStream, type Logger } from "pino";
import { pinoHttp, type HttpLogger } from "pino-http";
import { stdoutDestination } from "./stdout-destination";

/** Anything that could carry a credential is removed from every log line. */
export const REDACT_PATHS = [
  "req.headers.authorization",
  "req.headers.cookie",
  "req.headers['proxy-authorization']",
  'res.headers["set-cookie"]',
  "authorization",
  "token",
  "secret",
];

/** The production logger: JSON lines to stdout (or `destination`), credentials redacted. */
export function createLogger(
  level = process.env.LOG_LEVEL ?? "info",
  destination?: DestinationStream,
): Logger {
  const options = {
    level,
    base: { service: "attune-api" },
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    serializers: { err: scrubbedErr },
  };
  return pino(options, destination ?? stdoutDestination());
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** pino's error serializer, with token values removed from the message and the stack. */
function scrubbedErr(err: Error): Record<string, unknown> {
  const out = pino.stdSerializers.err(err) as Record<string, unknown>;
  for (const k of ["message", "stack"] as const)
    if (typeof out[k] === "string") out[k] = scrubText(out[k] as string);
  return out;
}

export function requestLogger(logger: Logger): HttpLogger {
  return pinoHttp({
    logger,
    // Trust a caller's X-Request-Id only when it is short and plain, so it cannot forge log lines.
    genReqId: (req: IncomingMessage, res: ServerResponse) => {
      const given = req.headers["x-request-id"];
      const id = typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
      res.setHeader("X-Request-Id", id);
      return id;
    },
    customLogLevel: (_req, res, err) =>
      err || res.statusCode >= 500 ? "error" : res.statusCode >= 400 ? "warn" : "info",
    // Tokens only travel in the header; one a client put in the URL anyway (refused, 401) is not
    // logged either: secret-looking parameters and anything shaped like an API token are hidden.
    serializers: {
      err: scrubbedErr,
      req: (req: {
        id: unknown;
        method: string;
        url: string;
        headers: Record<string, unknown>;
        remoteAddress?: string;
      }) => ({
        id: req.id,
        method: req.method,
        url: scrubUrl(req.url),
        headers: presentHeaders(req.headers),
        remoteAddress: req.remoteAddress,
      }),
    },
  });
}

/**
 * The request's headers as sent. A credential header that is present (even empty) is "[redacted]",
 * here and again by the logger's redact paths; one that was not sent stays absent, so a request
 * without Authorization does not look like one that had it. (A key holding undefined would be
 * filled in by the redaction.)
 */
function presentHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name] = name === "authorization" || name === "proxy-authorization" ? "[redacted]" : value;
  }
  return out;
}

/** Anything shaped like an API token, however it was written into a URL or a message. */
const TOKEN_SHAPE = /att_[A-Za-z0-9_-]{8,}/g;
const SECRET_PARAM = /([?&][^=&#]*(?:pass|secret|token|key|credential|signature|auth)[^=&#]*=)[^&#]*/gi;

/** Text (an error message, a stack) without token values in it. */
export function scrubText(text: string): string {
  return text.replace(TOKEN_SHAPE, "att_***");
}

/**
 * A request URL fit for the log: when it holds a secret-named parameter or anything shaped like a
 * token, written plainly or percent-encoded (`%61tt_…`, `Bearer%20att_…`), it is logged decoded
 * with those values hidden; any other URL is logged exactly as it came.
 */
export function scrubUrl(url: string): string {
  const lenient = url.replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  const hidden = lenient.replace(TOKEN_SHAPE, "att_***").replace(SECRET_PARAM, "$1***");
  return hidden === lenient ? url : hidden;
}
