import { describe, expect, it } from "@jest/globals";
import { buildOpenApiDocument } from "../src/openapi";
import { conform, document, makeAjv } from "./support/openapi";

describe("OpenAPI document", () => {
  it("is OpenAPI 3.1 with every endpoint of the contract, all but two secured", () => {
    const doc = buildOpenApiDocument() as {
      openapi: string;
      paths: Record<string, Record<string, { security?: unknown }>>;
    };
    expect(doc.openapi).toBe("3.1.0");
    const ops = Object.entries(doc.paths).flatMap(([p, item]) =>
      Object.keys(item)
        .filter((k) => k !== "parameters")
        .map((m) => `${m.toUpperCase()} ${p}`),
    );
    expect(ops.sort()).toEqual(
      [
        "DELETE /api/v1/packs/{ref}",
        "GET /api/v1/openapi.json",
        "GET /api/v1/packs",
        "GET /api/v1/packs/{ref}",
        "GET /api/v1/packs/{ref}/history",
        "GET /api/v1/packs/{ref}/installation",
        "GET /api/v1/registries",
        "GET /api/v1/registries/search",
        "GET /healthz",
        "GET /readyz",
        "POST /api/v1/packs/install",
        "POST /api/v1/packs/{ref}/verify",
      ].sort(),
    );
    const open = Object.entries(doc.paths).flatMap(([p, item]) =>
      Object.entries(item)
        .filter(([k, op]) => k !== "parameters" && !op.security)
        .map(() => p),
    );
    expect(open.sort()).toEqual(["/api/v1/openapi.json", "/healthz", "/readyz"]);
  });

  it("gives every operation a unique operationId (for client generators)", () => {
    const doc = buildOpenApiDocument() as { paths: Record<string, Record<string, { operationId?: string }>> };
    const ids = Object.values(doc.paths).flatMap((item) =>
      Object.entries(item)
        .filter(([k]) => k !== "parameters")
        .map(([, op]) => op.operationId),
    );
    expect(ids.every((id) => typeof id === "string" && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("documents verify's body as optional and empty: {} passes, any field does not", () => {
    const op = (
      document as unknown as {
        paths: Record<
          string,
          { post: { requestBody: { required: boolean; content: Record<string, unknown> } } }
        >;
      }
    ).paths["/api/v1/packs/{ref}/verify"].post;
    expect(op.requestBody.required).toBe(false);
    expect(Object.keys(op.requestBody.content)).toEqual(["application/json"]);
    const ajv = makeAjv();
    ajv.addSchema(document as object, "doc.json");
    const body = ajv.compile({ $ref: "doc.json#/components/schemas/VerifyBody" });
    expect(body({})).toBe(true);
    expect(body({ version: "1.0.0" })).toBe(false);
    expect(body([])).toBe(false);
  });

  it("compiles: every $ref resolves and every component is a valid JSON Schema 2020-12", () => {
    const ajv = makeAjv();
    ajv.addSchema(document as object, "doc.json");
    const schemas = (document as unknown as { components: { schemas: Record<string, unknown> } }).components
      .schemas;
    for (const name of Object.keys(schemas)) {
      expect(() => ajv.compile({ $ref: `doc.json#/components/schemas/${name}` })).not.toThrow();
    }
  });

  it("the conformance check rejects a body that drifts from the document", () => {
    const res = {
      status: 200,
      headers: { "content-type": "application/json" },
      body: { data: [], pagination: { page: 1, page_size: 20, total_items: 0 } },
      req: { method: "GET", path: "/api/v1/packs" },
    };
    expect(() => conform(res)).toThrow(/total_pages/);
    expect(() => conform({ ...res, status: 418 })).toThrow(/does not list status 418/);
    expect(() => conform({ ...res, req: { method: "PUT", path: "/api/v1/packs" } })).toThrow(
      /not documented/,
    );
  });
});
