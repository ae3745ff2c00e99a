import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { redactUrl } from "@attune/pack-storage";
import { pino, type DestinationStream, type Logger } from "pino";
import { pinoHttp, type HttpLogger } from "pino-http";

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
  };
  return destination ? pino(options, destination) : pino(options);
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

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
        headers: { ...req.headers, authorization: req.headers.authorization ? "[redacted]" : undefined },
        remoteAddress: req.remoteAddress,
      }),
    },
  });
}

/** A request path fit for the log: no token value, by parameter name or by its `att_` shape. */
export function scrubUrl(url: string): string {
  return redactUrl(url).replace(/\batt_[A-Za-z0-9_-]{8,}/g, "att_***");
}
