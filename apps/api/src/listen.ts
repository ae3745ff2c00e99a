import http from "node:http";
import type { AddressInfo } from "node:net";
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
}

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
  const server = http.createServer(createServer({ ...deps, logger }, lifecycle));
  // A client that trickles its request must not hold a connection forever (slowloris). These
  // bound receiving the request only, never the time an install takes to answer.
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;
  // what Node's parser refuses is answered as problem+json too
  server.on("clientError", (err: NodeJS.ErrnoException, socket) => answerClientError(err, socket, logger));

  let inFlight = 0;
  server.on("request", (_req, res: http.ServerResponse) => {
    inFlight++;
    res.once("close", () => inFlight--);
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", () => {
      server.off("error", reject);
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
