import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { buildOpenApiDocument } from "../../src/openapi";

// ajv-formats is CJS: under ESM the callable may sit on .default
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ??
  addFormatsModule) as unknown as (ajv: Ajv2020) => void;

type Doc = {
  paths: Record<
    string,
    Record<string, { responses?: Record<string, { content?: Record<string, unknown> }> }>
  >;
};

export const document = buildOpenApiDocument() as unknown as Doc;
export function makeAjv(): Ajv2020 {
  const a = new Ajv2020({ strict: false, allErrors: true });
  addFormats(a);
  return a;
}
const ajv = makeAjv();
ajv.addSchema(document as object, "openapi.json");

const pointer = (...parts: string[]) =>
  parts.map((p) => p.replace(/~/g, "~0").replace(/\//g, "~1")).join("/");

function templateFor(path: string): string | undefined {
  const templates = Object.keys(document.paths);
  if (templates.includes(path)) return path;
  return templates.find((t) => new RegExp(`^${t.replace(/\{[^}]+\}/g, "[^/]+")}$`).test(path));
}

/** A supertest response (which carries its request as `req` at runtime) or an equivalent object. */
export interface ResponseLike {
  status: number;
  headers: Record<string, string>;
  body: unknown;
  req?: unknown;
}

/**
 * Assert that a real response is described by the OpenAPI document: the path and method exist,
 * the status is listed, and the body validates against the schema of its content type.
 */
export function conform(res: ResponseLike): void {
  const req = (res as unknown as { req: { method: string; path: string } }).req;
  const method = req.method.toLowerCase();
  const path = new URL(req.path, "http://x").pathname;
  const template = templateFor(path);
  if (!template) throw new Error(`OpenAPI: no path matches ${path}`);
  const op = document.paths[template][method];
  if (!op) throw new Error(`OpenAPI: ${method.toUpperCase()} ${template} is not documented`);
  const response = op.responses?.[String(res.status)];
  if (!response)
    throw new Error(`OpenAPI: ${method.toUpperCase()} ${template} does not list status ${res.status}`);
  if (!response.content) return;
  const type = String(res.headers["content-type"] ?? "").split(";")[0];
  if (!(type in response.content))
    throw new Error(`OpenAPI: ${method.toUpperCase()} ${template} ${res.status} does not list ${type}`);
  const ref = `openapi.json#/${pointer("paths", template, method, "responses", String(res.status), "content", type, "schema")}`;
  const validate = ajv.getSchema(ref) ?? ajv.compile({ $ref: ref });
  if (!validate(res.body)) {
    throw new Error(
      `OpenAPI: ${method.toUpperCase()} ${path} ${res.status} body does not match: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(res.body).slice(0, 2000)}`,
    );
  }
}
