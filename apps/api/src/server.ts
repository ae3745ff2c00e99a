import express, { type Express, type Request, type Response } from "express";
import { authenticate, requireScope } from "./http/auth";
import { errorHandler, methodNotAllowed, notFound, refuseDeclaredOversize } from "./http/error-handler";
import { HttpProblem } from "./http/problem";
import { createLogger, requestLogger } from "./logger";
import { buildOpenApiDocument } from "./openapi";
import { packsRouter } from "./routes/packs";
import { registriesRouter } from "./routes/registries";
import { Scopes, type ServerDeps } from "./types";

export const DEFAULT_BODY_LIMIT = 64 * 1024;

/** `/packs/:ref/verify` as Express matches it (any case, an optional trailing slash), capturing nothing. */
const VERIFY_PATH = /^\/packs\/[^/]+\/verify\/?$/i;
/** GET (and HEAD) of a pack, its installation or its history; DELETE of a pack. */
const PACK_READ_PATH = /^\/packs\/[^/]+(?:\/(?:history|installation))?\/?$/i;
const PACK_PATH = /^\/packs\/[^/]+\/?$/i;

/** A health check while draining: 503, and the connection is not kept for another request. */
function shuttingDown(res: Response): void {
  res.setHeader("Connection", "close").status(503).json({ status: "shutting_down" });
}

/** Shutdown state shared by the app and the listener (see listen.ts). */
export interface Lifecycle {
  /** aborted when in-flight installs must stop and roll back */
  readonly signal: AbortSignal;
  draining(): boolean;
}

const IDLE: Lifecycle = { signal: new AbortController().signal, draining: () => false };

/**
 * Build the Express application. It holds no global state: every dependency comes in through
 * `deps`, so tests (supertest) and the entry point wire it identically.
 */
export function createServer(deps: ServerDeps, lifecycle: Lifecycle = IDLE): Express {
  const logger = deps.logger ?? createLogger();
  const privatePaths = deps.privatePaths ?? [];
  const app = express();
  app.disable("x-powered-by");
  // no automatic ETag: only the list sets one (routes/packs.ts), the only 304 the OpenAPI document
  // declares; and only an answer with an ETag may be a 304 (Express's freshness check alone would
  // answer `If-None-Match: *` with a 304 on every GET)
  app.set("etag", false);
  const expressFresh = Object.getOwnPropertyDescriptor(express.request, "fresh")?.get;
  Object.defineProperty(app.request, "fresh", {
    configurable: true,
    get(this: Request) {
      return this.res?.hasHeader("ETag") === true && expressFresh?.call(this) === true;
    },
  });
  app.set("query parser", "simple");
  app.use(requestLogger(logger));
  app.use((_req, res, next) => {
    res.setHeader("Cache-Control", "no-store");
    res.setHeader("X-Content-Type-Options", "nosniff");
    next();
  });

  app
    .route("/healthz")
    .get((_req, res) => {
      if (lifecycle.draining()) return shuttingDown(res);
      res.json({ status: "ok" });
    })
    .all(methodNotAllowed(["GET"]));

  // Readiness, unlike liveness above, asks the installer: a 503 tells a load balancer to stop
  // sending requests here. The body names only the error's code (no auth here, so no paths); the
  // log has the whole error and its hint.
  app
    .route("/readyz")
    .get(async (_req, res) => {
      if (lifecycle.draining()) return shuttingDown(res);
      try {
        await deps.installer.ready?.();
        res.json({ status: "ready" });
      } catch (e) {
        const err = e as { code?: unknown; message?: unknown; hint?: unknown };
        const code = typeof err.code === "string" ? err.code : "EINTERNAL";
        logger.error({ code, error: String(err.message ?? e), hint: err.hint }, "readiness check failed");
        res.status(503).json({ status: "not_ready", code });
      }
    })
    .all(methodNotAllowed(["GET"]));

  const openapi = JSON.stringify(buildOpenApiDocument());
  app
    .route("/api/v1/openapi.json")
    .get((_req, res) => void res.type("application/json").send(openapi))
    .all(methodNotAllowed(["GET"]));

  const api = express.Router();
  // Requests arriving on kept-alive connections after shutdown began are refused, not started.
  api.use((_req, res, next) => {
    if (!lifecycle.draining()) return next();
    res.setHeader("Connection", "close");
    next(new HttpProblem(503, "ESHUTTING_DOWN", "the server is shutting down; retry on another instance"));
  });
  api.use(authenticate(deps.verifyToken));
  // the scope of a route that reads a body before the body is read: a token without it gets 403
  // whatever it sent (not 400 for a malformed body, 413 for a big one), as for every other endpoint
  api.post("/packs/install", requireScope(Scopes.install));
  // patterns without a parameter: the router decodes parameters as it matches, so `/packs/%ZZ/verify`
  // would be refused (400) before this check, and a token without the scope must get 403 whatever
  // else is wrong (the routes check their scope again: these only put the check first)
  api.post(VERIFY_PATH, requireScope(Scopes.read));
  api.get(PACK_READ_PATH, requireScope(Scopes.read));
  api.delete(PACK_PATH, requireScope(Scopes.delete));
  const bodyLimit = deps.bodyLimit ?? DEFAULT_BODY_LIMIT;
  // only the POST routes read a body: any other request (an unknown route, a method a route does
  // not allow) is answered at once, whatever body it declares and however slowly that comes
  api.post(
    ["/packs/install", "/packs/:ref/verify"],
    refuseDeclaredOversize(bodyLimit),
    express.json({ limit: bodyLimit, strict: true }),
  );
  api.use(
    packsRouter({
      installer: deps.installer,
      shutdownSignal: lifecycle.signal,
      privatePaths,
    }),
  );
  api.use(registriesRouter(deps.installer, privatePaths));
  app.use("/api/v1", api);

  app.use(notFound);
  app.use(errorHandler(privatePaths));
  return app;
}
