import { createHash } from "node:crypto";
import { toDependencyWarningsJson } from "@attune/installer";
import { validateRef } from "@attune/pack-storage";
import { Router, type Request } from "express";
import type { z } from "zod";
import { actorOf, requireScope } from "../http/auth";
import { methodNotAllowed } from "../http/error-handler";
import { HttpProblem, scrubPaths } from "../http/problem";
import { parseBodyOr400, parseOr400 } from "../http/validate";
import { inRequestTerms } from "./install-errors";
import {
  DEFAULT_PAGE_SIZE,
  DeleteQuery,
  EmptyQuery,
  HistoryQuery,
  InstallBody,
  ListQuery,
  VerifyBody,
} from "../schemas";
import { Scopes, type Actor, type InstallerPort, type InstallRequest } from "../types";

export interface PacksRouterOptions {
  installer: InstallerPort;
  /** aborted when the server gives up waiting for in-flight work at shutdown */
  shutdownSignal: AbortSignal;
  /** the server's own directories, hidden in messages that reach the client */
  privatePaths?: string[];
}

function linkedAbort(parent: AbortSignal): { signal: AbortSignal; dispose: () => void } {
  const ctl = new AbortController();
  const onAbort = () => ctl.abort(parent.reason);
  if (parent.aborted) onAbort();
  else parent.addEventListener("abort", onAbort, { once: true });
  return { signal: ctl.signal, dispose: () => parent.removeEventListener("abort", onAbort) };
}

function toInstallRequest(body: z.output<typeof InstallBody>): InstallRequest {
  return {
    source: body.source,
    refSpec: body.ref_spec,
    force: body.force,
    checksum: body.checksum,
    skipDeps: body.skip_deps,
    skipTests: body.skip_tests,
    registry: body.registry,
    refresh: body.refresh,
    method: "api",
  };
}

/**
 * Install with a per-request signal linked to the shutdown signal, so listeners the installer
 * adds die with the request instead of piling up on the server-wide signal.
 */
async function runInstall(
  installer: InstallerPort,
  req: InstallRequest,
  actor: Actor,
  shutdown: AbortSignal,
) {
  const linked = linkedAbort(shutdown);
  try {
    return await installer.install(req, actor, { signal: linked.signal });
  } catch (e) {
    // Aborted by the shutdown deadline: the installer rolled back; the client may retry elsewhere.
    if (!shutdown.aborted) throw e;
    throw new HttpProblem(
      503,
      "ESHUTTING_DOWN",
      "the server shut down during the install; nothing was installed, retry",
      {
        headers: { Connection: "close" },
      },
    );
  } finally {
    linked.dispose();
  }
}

const LIST_BODIES = 64;

/**
 * The last bodies of `GET /packs`, by query, each with the store's data version it was built at.
 * Dashboards poll the same page; while nothing was written (by this process or any other) the
 * answer is the same bytes, so they are not queried, mapped and serialised again. Nothing is kept
 * when the store cannot tell its version (PostgreSQL).
 */
interface ListBody {
  bytes: Buffer;
  etag: string;
}

function listBody(json: string): ListBody {
  const bytes = Buffer.from(json, "utf8");
  const hash = createHash("sha1").update(bytes).digest("base64").slice(0, 27);
  return { bytes, etag: `W/"${bytes.length.toString(16)}-${hash}"` };
}

class ListBodyCache {
  private readonly bodies = new Map<string, { version: string; body: ListBody }>();

  get(key: string, version: string | null): ListBody | undefined {
    if (version === null) return undefined;
    const hit = this.bodies.get(key);
    return hit && hit.version === version ? hit.body : undefined;
  }

  set(key: string, version: string | null, body: ListBody): void {
    if (version === null) return;
    this.bodies.delete(key);
    if (this.bodies.size >= LIST_BODIES) this.bodies.delete(this.bodies.keys().next().value as string);
    this.bodies.set(key, { version, body });
  }
}

/**
 * The pack ref of the path, checked by the library's own rule, so a bad one is refused with the
 * same code, message and hint as in local mode (EINVALID_REF). The OpenAPI document states it as REF_PATTERN.
 */
function refOf(req: Request): string {
  return validateRef(String(req.params.ref));
}

function notJson(): HttpProblem {
  return new HttpProblem(415, "EUNSUPPORTED_MEDIA_TYPE", "the body must be JSON", {
    errors: [{ field: "Content-Type", message: "must be application/json" }],
    hint: "send the body as JSON with Content-Type: application/json",
  });
}

/** Whether the request declares a body (RFC 9112 §6.3: Transfer-Encoding, or a Content-Length over 0). */
function declaresBody(req: Request): boolean {
  return Number(req.headers["content-length"]) > 0 || req.headers["transfer-encoding"] !== undefined;
}

export function packsRouter({ installer, shutdownSignal, privatePaths = [] }: PacksRouterOptions): Router {
  const r = Router();
  const read = requireScope(Scopes.read);

  r.route("/packs/install")
    .post(requireScope(Scopes.install), async (req, res) => {
      // no body at all is the fields it lacks (`source: required`), whatever its Content-Type says
      if (declaresBody(req) && !req.is("application/json")) throw notJson();
      parseOr400(EmptyQuery, req.query, "query");
      const body = parseBodyOr400(InstallBody, req);
      const result = await runInstall(installer, toInstallRequest(body), actorOf(res), shutdownSignal).catch(
        (err: unknown) => {
          throw inRequestTerms(err, body);
        },
      );
      res.status(result.created ? 201 : 200).json({
        data: {
          pack: result.pack,
          installation: result.installation,
          // only after skip_deps, and only when it let something through
          ...toDependencyWarningsJson(result),
        },
      });
    })
    // GET/DELETE /packs/install address a pack named "install" (a valid ref) and fall through.
    .all((req, res, next) =>
      req.method === "GET" || req.method === "HEAD" || req.method === "DELETE"
        ? next()
        : // the URL serves all three: installing (POST) and the pack named "install" (GET, DELETE)
          methodNotAllowed(["GET", "POST", "DELETE"])(req, res, next),
    );

  const listBodies = new ListBodyCache();
  r.route("/packs")
    .get(read, async (req, res) => {
      const q = parseOr400(ListQuery, req.query, "query");
      const key = `${q.source_type ?? ""}|${q.page ?? ""}|${q.page_size ?? ""}`;
      // read before the list: a write landing in between only makes the next request rebuild
      const version = (await installer.listVersion?.()) ?? null;
      let body = listBodies.get(key, version);
      if (!body) {
        const page = await installer.list({ sourceType: q.source_type, page: q.page, pageSize: q.page_size });
        body = listBody(JSON.stringify(pagedBody(page)));
        listBodies.set(key, version, body);
      }
      // the same weak ETag express would compute, made once per body (If-None-Match still gets 304)
      res.type("application/json").setHeader("ETag", body.etag);
      res.send(body.bytes);
    })
    .all(methodNotAllowed(["GET"]));

  r.route("/packs/:ref")
    .get(read, async (req, res) => {
      const ref = refOf(req);
      parseOr400(EmptyQuery, req.query, "query");
      res.json({ data: (await installer.show(ref)).pack });
    })
    .delete(requireScope(Scopes.delete), async (req, res) => {
      const ref = refOf(req);
      const q = parseOr400(DeleteQuery, req.query, "query");
      const out = await installer
        .uninstall(ref, {
          version: q.version,
          skipDeps: q.skip_deps === "true",
          actor: actorOf(res),
          method: "api",
        })
        .catch((err: unknown) => {
          // uninstalled in the database, files left behind (say, a read-only disk): the uninstall
          // stands (a retry would be 404), so 200, with what went wrong; the next write (on any ref) cleans up
          const d = (err as { details?: { filesLeft?: unknown; removed?: unknown } }).details;
          if (d?.filesLeft !== true || !Array.isArray(d.removed)) throw err;
          const e = err as Error & { code: string };
          req.log?.warn({ err }, "uninstalled, but files were left behind");
          return {
            ref,
            removed: d.removed as string[],
            filesError: `${e.code}: ${scrubPaths(e.message, privatePaths)}`,
          };
        });
      res.json({
        data: {
          ref: out.ref,
          removed: out.removed,
          ...("filesError" in out ? { files_error: out.filesError } : toDependencyWarningsJson(out)),
        },
      });
    })
    .all(methodNotAllowed(["GET", "DELETE"]));

  r.route("/packs/:ref/installation")
    .get(read, async (req, res) => {
      const ref = refOf(req);
      parseOr400(EmptyQuery, req.query, "query");
      const { installation } = await installer.show(ref);
      if (!installation) throw new HttpProblem(404, "ENOTFOUND", `pack ${ref} has no installation record`);
      res.json({ data: installation });
    })
    .all(methodNotAllowed(["GET"]));

  r.route("/packs/:ref/history")
    .get(read, async (req, res) => {
      const ref = refOf(req);
      const q = parseOr400(HistoryQuery, req.query, "query");
      const never = () => new HttpProblem(404, "ENOTFOUND", `no pack ${ref} has ever been installed`);
      if (q.page === undefined && q.page_size === undefined) {
        // no paging asked for: the whole history, as before pages existed
        const events = await installer.history(ref);
        // The history outlives an uninstall; a ref that never had an event is unknown.
        if (events.length === 0) throw never();
        res.json({ data: events });
        return;
      }
      // paged in the database: page 1 holds the newest events, each page reads oldest first
      const page = await installer.historyPage(ref, {
        page: q.page ?? 1,
        pageSize: q.page_size ?? DEFAULT_PAGE_SIZE,
      });
      if (page.totalItems === 0) throw never();
      res.json(pagedBody(page));
    })
    .all(methodNotAllowed(["GET"]));

  r.route("/packs/:ref/verify")
    .post(read, async (req, res) => {
      const ref = refOf(req);
      // no body, or `{}`: a body of another type is not read (express.json skips it), so it is
      // refused rather than ignored; a JSON one is parsed and must hold no field
      if (declaresBody(req) && !req.is("application/json")) throw notJson();
      parseOr400(EmptyQuery, req.query, "query");
      parseBodyOr400(VerifyBody, req);
      const v = await installer.verify(ref, actorOf(res), "api");
      if (v.historyError)
        req.log?.warn({ ref, historyError: v.historyError }, "verify not recorded in the history");
      res.json({
        data: {
          version: v.version,
          ok: v.ok,
          expected: v.expected,
          actual: v.actual,
          changed: v.changed,
          added: v.added,
          removed: v.removed,
          // the library names a planted entry inside the pack; any server path left is hidden
          error: v.error ? scrubPaths(v.error, privatePaths) : null,
          history_error: v.historyError ? scrubPaths(v.historyError, privatePaths) : null,
        },
      });
    })
    .all(methodNotAllowed(["POST"]));

  return r;
}

/** A page of a list or a history, as the API answers it: `{data, pagination}`. */
function pagedBody<T>(page: {
  items: T[];
  page: number;
  pageSize: number;
  totalItems: number;
  totalPages: number;
}) {
  return {
    data: page.items,
    pagination: {
      page: page.page,
      page_size: page.pageSize,
      total_items: page.totalItems,
      total_pages: page.totalPages,
    },
  };
}
