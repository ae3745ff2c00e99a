import { randomUUID } from "node:crypto";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import { problemType, titleFor, type Problem } from "./problem";

/** The server's limits on receiving a request (listen.ts), named in the 408's detail. */
export interface RequestTimeouts {
  headersMs: number;
  requestMs: number;
}

const seconds = (ms: number) => `${Number((ms / 1000).toFixed(3))} s`;

/** Node's refusal of a request it could not parse, with what it means for the client. */
function classify(
  code: string | undefined,
  timeouts: RequestTimeouts,
): {
  status: number;
  problem: Pick<Problem, "code" | "detail" | "errors">;
} {
  if (code === "HPE_HEADER_OVERFLOW")
    return {
      status: 431,
      problem: {
        code: "ETOO_LARGE",
        detail:
          "the request's headers are too large (the server takes at most 16 KiB of request line and headers)",
        errors: [{ field: "headers", message: "over 16 KiB; send a shorter URL or fewer headers" }],
      },
    };
  if (code === "ERR_HTTP_REQUEST_TIMEOUT")
    return {
      status: 408,
      problem: {
        code: "ETIMEOUT",
        detail: `the request was not received in time (headers within ${seconds(timeouts.headersMs)}, the whole request within ${seconds(timeouts.requestMs)})`,
        errors: [{ field: "request", message: "send the whole request without pausing" }],
      },
    };
  return {
    status: 400,
    problem: {
      code: "EINVALID_INPUT",
      detail: `the request is not valid HTTP/1.1 (${code ?? "unparsable"})`,
      errors: [
        {
          field: "request",
          message:
            "check the request line (method, a target starting with /, the version), the header names and values (no control characters), and that it does not send both Transfer-Encoding and Content-Length",
        },
      ],
    },
  };
}

/**
 * The server's 'clientError' handler: a request Node's HTTP parser refused (a malformed request line
 * or header, headers over 16 KiB, a request that never finished arriving) is answered like every
 * other error, `application/problem+json` with an `X-Request-Id`, instead of Node's bare status line;
 * then the connection is closed (the parser cannot find where the next request would start). A
 * socket that is gone or already answering gets nothing.
 */
export function answerClientError(
  err: NodeJS.ErrnoException,
  socket: Duplex,
  logger: Logger,
  timeouts: RequestTimeouts = { headersMs: 20_000, requestMs: 60_000 },
): void {
  const answering = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (err.code === "ECONNRESET" || !socket.writable || answering?.headersSent) {
    socket.destroy();
    return;
  }
  const requestId = randomUUID();
  const { status, problem } = classify(err.code, timeouts);
  const body = JSON.stringify({
    type: problemType(problem.code),
    title: titleFor(status),
    status,
    detail: problem.detail,
    code: problem.code,
    request_id: requestId,
    errors: problem.errors,
  } satisfies Problem);
  logger.info({ reqId: requestId, status, parserCode: err.code }, "request refused by the HTTP parser");
  socket.end(
    `HTTP/1.1 ${status} ${titleFor(status)}\r\n` +
      "Content-Type: application/problem+json; charset=utf-8\r\n" +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Request-Id: ${requestId}\r\n` +
      // the headers every answer carries (server.ts), these too
      "Cache-Control: no-store\r\n" +
      "X-Content-Type-Options: nosniff\r\n" +
      "Connection: close\r\n\r\n" +
      body,
  );
}
