import { MAX_REF } from "@attune/pack-storage";
import { z } from "zod";
import * as S from "./schemas";

/**
 * The OpenAPI 3.1 document, generated from the zod schemas the routes use (JSON Schema 2020-12,
 * which OpenAPI 3.1 adopts). Paths are listed by hand: they are the contract of DESIGN.md §11.
 */
const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });
const json = (schema: object) => ({ "application/json": { schema } });
const ok = (description: string, schema: object) => ({ description, content: json(schema) });
const problem = (description: string) => ({
  description,
  content: { "application/problem+json": { schema: ref("Problem") } },
});
const dataOf = (schema: object) => ({
  type: "object",
  properties: { data: schema },
  required: ["data"],
  additionalProperties: false,
});

const COMPONENTS: Record<string, z.ZodType> = {
  InstallBody: S.InstallBody,
  VerifyBody: S.VerifyBody,
  Pack: S.Pack,
  Installation: S.Installation,
  PackWithInstallation: S.PackWithInstallation,
  InstallResult: S.InstallResult,
  PackListItem: S.PackListItem,
  InstallEvent: S.InstallEvent,
  VerifyResult: S.VerifyResult,
  UninstallResult: S.UninstallResult,
  Registry: S.Registry,
  SearchHit: S.SearchHit,
  RegistryState: S.RegistryState,
  SearchResults: S.SearchResults,
  Pagination: S.Pagination,
  PackPage: S.PackPage,
  History: S.History,
  Problem: S.Problem,
  Health: S.Health,
  Readiness: S.Readiness,
};

function componentSchemas(): Record<string, object> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(COMPONENTS)) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, { uri: (id) => `#/components/schemas/${id}`, io: "output" });
  const out: Record<string, object> = {};
  for (const [id, s] of Object.entries(schemas)) {
    const { $schema: _s, $id: _i, ...rest } = s as Record<string, unknown>;
    out[id] = rest;
  }
  // The request body is documented as the client sends it (defaults and optionals in input form).
  const { $schema: _s, ...install } = z.toJSONSchema(S.InstallBody, { io: "input" }) as Record<
    string,
    unknown
  >;
  out.InstallBody = install;
  return out;
}

function queryParams(schema: z.ZodObject): object[] {
  return Object.entries(schema.shape).map(([name, field]) => {
    const { $schema: _s, ...js } = z.toJSONSchema(field as z.ZodType, { io: "input" }) as Record<
      string,
      unknown
    >;
    const optional = (field as z.ZodType).safeParse(undefined).success;
    return { name, in: "query", required: !optional, schema: js };
  });
}

const refParam = {
  name: "ref",
  in: "path",
  required: true,
  schema: { type: "string", pattern: S.REF_PATTERN.source, maxLength: MAX_REF },
};
const authErrors = {
  "400": problem("invalid input; `errors` names each field"),
  "401": problem("missing, unknown, revoked or expired token"),
  "403": problem("the token lacks the required scope"),
  "500": problem("server error (no internal details)"),
  "503": problem(
    "the database cannot be reached or does not answer in time (code EDATABASE, header Retry-After; the server log has the details), the server is shutting down (an interrupted install was rolled back), or an install or uninstall was refused because the server's packs directory is not, or cannot be confirmed to be, the store it opened (code ECONFIG from the check every write starts with, or EIO/ENOENT from the storage's own guard when the store was lost after that check; the detail and hint say how to mend it)",
  ),
};
const secured = (scope: string) => ({ security: [{ bearer: [scope] }] });

export function buildOpenApiDocument(version = "0.1.0"): Record<string, unknown> {
  return {
    openapi: "3.1.0",
    info: {
      title: "Attune pack registry API",
      version,
      description:
        "Every error is application/problem+json with the product's `code` and a `request_id` that matches the X-Request-Id header. Besides the responses listed per operation: a method a path does not define is answered 405 EMETHOD_NOT_ALLOWED with an Allow header; a request the HTTP parser cannot read is answered 400 EINVALID_INPUT (field `request`), headers over 16 KiB 431 ETOO_LARGE (field `headers`), and a request that does not arrive in time 408 ETIMEOUT, each followed by closing the connection.",
    },
    servers: [{ url: "/" }],
    components: {
      schemas: componentSchemas(),
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "token from `attune token create`" },
      },
    },
    paths: {
      "/healthz": {
        get: {
          operationId: "health",
          summary: "liveness",
          responses: { "200": ok("up", ref("Health")), "503": ok("draining", ref("Health")) },
        },
      },
      "/readyz": {
        get: {
          operationId: "ready",
          summary: "readiness: the database answers and the packs directory is there",
          responses: {
            "200": ok("ready to serve", ref("Readiness")),
            "503": ok("not ready (the code says why; the log has the details) or draining", ref("Readiness")),
          },
        },
      },
      "/api/v1/openapi.json": {
        get: {
          operationId: "getOpenApi",
          summary: "this document",
          responses: { "200": { description: "OpenAPI 3.1" } },
        },
      },
      "/api/v1/packs/install": {
        post: {
          operationId: "installPack",
          summary: "install a pack from a git URL, archive URL, local path or registry ref",
          ...secured("packs:install"),
          requestBody: { required: true, content: json(ref("InstallBody")) },
          responses: {
            "200": ok("replaced an installed pack", dataOf(ref("InstallResult"))),
            "201": ok("installed", dataOf(ref("InstallResult"))),
            ...authErrors,
            "404": problem("unknown registry ref, or unknown git ref in the repository"),
            "409": problem("already installed (use force), dependency missing, or locked"),
            "413": problem("body or download too large"),
            "415": problem("body is not JSON"),
            "422": problem("checksum mismatch; nothing was installed"),
            "502": problem("fetching the source failed"),
            "504": problem("fetching the source timed out"),
          },
        },
      },
      "/api/v1/packs": {
        get: {
          operationId: "listPacks",
          summary: "list installed packs",
          ...secured("packs:read"),
          parameters: [
            ...queryParams(S.ListQuery),
            {
              name: "If-None-Match",
              in: "header",
              required: false,
              description: "the ETag of a page read before: 304 while the data is unchanged",
              schema: { type: "string" },
            },
          ],
          responses: {
            "200": {
              ...ok("a page of packs", ref("PackPage")),
              headers: {
                ETag: {
                  description:
                    "weak validator of this page's body: it changes whenever the page's content does (a write elsewhere leaves it as it is)",
                  schema: { type: "string" },
                },
              },
            },
            "304": { description: "not modified: the If-None-Match ETag is still current (no body)" },
            ...authErrors,
          },
        },
      },
      "/api/v1/packs/{ref}": {
        parameters: [refParam],
        get: {
          operationId: "getPack",
          summary: "the pack record",
          ...secured("packs:read"),
          responses: { "200": ok("pack", dataOf(ref("Pack"))), ...authErrors, "404": problem("unknown ref") },
        },
        delete: {
          operationId: "uninstallPack",
          summary: "uninstall: files and rows are removed",
          ...secured("packs:delete"),
          parameters: queryParams(S.DeleteQuery),
          responses: {
            "200": ok("removed", dataOf(ref("UninstallResult"))),
            ...authErrors,
            "404": problem("unknown ref"),
            "409": problem(
              "installed packs depend on it (EDEPENDENCY names them; skip_deps=true overrides), or the ref is locked",
            ),
          },
        },
      },
      "/api/v1/packs/{ref}/installation": {
        parameters: [refParam],
        get: {
          operationId: "getInstallation",
          summary: "how and by whom the pack was installed",
          ...secured("packs:read"),
          responses: {
            "200": ok("installation", dataOf(ref("Installation"))),
            ...authErrors,
            "404": problem("unknown ref"),
          },
        },
      },
      "/api/v1/packs/{ref}/history": {
        parameters: [refParam],
        get: {
          operationId: "getHistory",
          summary: "install, upgrade, uninstall, verify and failed events, oldest first",
          description:
            "Without page or page_size: every event, oldest first, and no pagination. With either: one page and `pagination`; page 1 holds the newest page_size events, the last page the oldest, each page oldest first (a page past the last is empty). To read a long history page by page, walk page 1, 2, … (newest to oldest): an event recorded meanwhile pushes the older ones to later pages, so an event may show up twice (tell by its id), but none is missed.",
          ...secured("packs:read"),
          parameters: queryParams(S.HistoryQuery),
          responses: {
            "200": ok("events", ref("History")),
            ...authErrors,
            "404": problem("the ref has no history"),
          },
        },
      },
      "/api/v1/packs/{ref}/verify": {
        parameters: [refParam],
        post: {
          operationId: "verifyPack",
          summary: "re-compute the checksum of the installed files",
          ...secured("packs:read"),
          // no options: no body, or `{}` (what the CLI sends); any field is a 400 naming it
          requestBody: { required: false, content: json(ref("VerifyBody")) },
          responses: {
            "200": ok("the comparison", dataOf(ref("VerifyResult"))),
            ...authErrors,
            "404": problem("unknown ref"),
            "413": problem("body too large"),
            "415": problem("a body that is not JSON"),
          },
        },
      },
      "/api/v1/registries": {
        get: {
          operationId: "listRegistries",
          summary: "configured registries, by priority",
          ...secured("packs:read"),
          responses: {
            "200": ok("registries", dataOf({ type: "array", items: ref("Registry") })),
            ...authErrors,
          },
        },
      },
      "/api/v1/registries/search": {
        get: {
          operationId: "searchRegistries",
          summary: "search the registry indexes (ref, label, description, keywords)",
          ...secured("packs:read"),
          parameters: queryParams(S.SearchQuery),
          responses: {
            "200": ok(
              "matches; `registries` reports each registry's state (an unreadable one is skipped, not fatal)",
              ref("SearchResults"),
            ),
            ...authErrors,
          },
        },
      },
    },
  };
}
