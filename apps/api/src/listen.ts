import http from "node:http";
import type { AddressInfo } from "node:net";
import { AttuneError, ErrorCodes } from "@attune/pack-storage";
import { answerClientError } from "./http/client-error";
import { createLogger } from "./logger";
import { createServer, type Lifecycle } from "./server";
import type { ServerDeps } from "./types";

export interface ListenOptions {
  port?: number;
  host?: string;
  /** how long in-flight requests may run after shutdown starts before installs are aborted */
  drainTimeoutMs?: number;
  /** how long aborted installs get to roll back before connections are cut */
  abortGraceMs?: number;
  /** how long a client may take to send its headers, and its whole request (20 s and 60 s; tests lower them) */
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
}

/**
 * How often Node looks for connections past those timeouts. Its default, 30 s, let a request whose
 * headers never end live 20 + up to 30 s; checking every second keeps the promised bounds within a
 * second, for a walk over the open connections each time.
 */
const TIMEOUT_CHECK_INTERVAL_MS = 1_000;

export interface RunningServer {
  server: http.Server;
  url: string;
  port: number;
  /** stop accepting, let in-flight requests finish (bounded), then abort the rest; idempotent */
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Create the app and listen; `close()` implements the graceful shutdown used on SIGTERM/SIGINT. */
export async function startServer(deps: ServerDeps, opts: ListenOptions = {}): Promise<RunningServer> {
  const logger = deps.logger ?? createLogger();
  const abort = new AbortController();
  let draining = false;
  const lifecycle: Lifecycle = { signal: abort.signal, draining: () => draining };
  // A client that trickles its request must not hold a connection forever (slowloris). These
  // bound receiving the request only, never the time an install takes to answer.
  const timeouts = { headersMs: opts.headersTimeoutMs ?? 20_000, requestMs: opts.requestTimeoutMs ?? 60_000 };
  const server = http.createServer(
    {
      headersTimeout: timeouts.headersMs,
      requestTimeout: timeouts.requestMs,
      connectionsCheckingInterval: Math.min(TIMEOUT_CHECK_INTERVAL_MS, timeouts.headersMs),
    },
    createServer({ ...deps, logger }, lifecycle),
  );
  // what Node's parser refuses is answered as problem+json too
  server.on("clientError", (err: NodeJS.ErrnoException, socket) =>
    answerClientError(err, socket, logger, timeouts),
  );

  let inFlight = 0;
  server.on("request", (_req, res: http.ServerResponse) => {
    inFlight++;
    res.once("close", () => inFlight--);
  });

  const listenHost = opts.host ?? "127.0.0.1";
  const listenPort = opts.port ?? 0;
  await new Promise<void>((resolve, reject) => {
    const fail = (err: NodeJS.ErrnoException) => reject(listenError(err, listenHost, listenPort));
    server.once("error", fail);
    server.listen(listenPort, listenHost, () => {
      server.off("error", fail);
      resolve();
    });
  });
  const { port, address } = server.address() as AddressInfo;
  const host = address.includes(":") ? `[${address}]` : address;

  const waitForIdle = async (ms: number) => {
    const until = Date.now() + ms;
    while (inFlight > 0 && Date.now() < until) {
      server.closeIdleConnections();
      await sleep(50);
    }
    return inFlight === 0;
  };

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      draining = true;
      const closed = new Promise<void>((r) => server.close(() => r()));
      logger.info({ inFlight }, "shutting down: no new connections");
      if (!(await waitForIdle(opts.drainTimeoutMs ?? 30_000))) {
        logger.warn({ inFlight }, "drain timeout: aborting in-flight installs so they roll back");
        abort.abort(new Error("server shutting down"));
        await waitForIdle(opts.abortGraceMs ?? 10_000);
      }
      server.closeAllConnections();
      await closed;
      logger.info("http server closed");
    })());

  return { server, url: `http://${host}:${port}`, port, close };
}

/** Why the server could not listen, said of the variable that decides it (HOST or PORT). */
function listenError(err: NodeJS.ErrnoException, host: string, port: number): Error {
  const reason = err.code ?? "ERROR";
  if (reason === "ENOTFOUND" || reason === "EAI_AGAIN" || reason === "EADDRNOTAVAIL")
    return new AttuneError(
      ErrorCodes.ECONFIG,
      `HOST ${JSON.stringify(host)} is not an address of this machine (${reason})`,
      {
        cause: err,
        details: { field: "HOST" },
        hint: "set HOST to an address of this machine: 127.0.0.1 (the default), ::1, 0.0.0.0 for every interface, or a name that resolves to one of them",
      },
    );
  if (reason === "EADDRINUSE")
    return new AttuneError(ErrorCodes.ECONFIG, `PORT ${port} on ${host} is already in use`, {
      cause: err,
      details: { field: "PORT" },
      hint: "stop the server that listens there, or set PORT to a free port (0 picks one)",
    });
  if (reason === "EACCES")
    return new AttuneError(
      ErrorCodes.ECONFIG,
      `PORT ${port} on ${host} needs privileges this process lacks`,
      {
        cause: err,
        details: { field: "PORT" },
        hint: "set PORT to a port above 1023, or give the process the right to bind low ports",
      },
    );
  return err;
}
