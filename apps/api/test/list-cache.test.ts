import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import request from "supertest";
import { openDatabase, repositories } from "@attune/db";
import { tmpDir } from "@attune/test-utils";
import { buildOpenApiDocument } from "../src/openapi";
import { openTestApi, type TestApi } from "./support/api";
import { makePackDir } from "./support/fixtures";

// GET /api/v1/packs reuses the body it built while the store's data version is unchanged; these
// tests prove a reused body is never stale, whoever wrote.
let api: TestApi;
const src = tmpDir("attune-api-list-cache-");
beforeAll(async () => {
  api = await openTestApi({ localSourceRoots: [src.dir] });
});
afterAll(async () => {
  await api?.close();
  src.cleanup();
});

const list = (query = "") => request(api.app).get(`/api/v1/packs${query}`).set(api.auth(api.tokens.read));
const refs = (res: request.Response) =>
  (res.body.data as Array<{ pack: { ref: string } }>).map((i) => i.pack.ref);
const install = (ref: string, version = "1.0.0") =>
  request(api.app)
    .post("/api/v1/packs/install")
    .set(api.auth())
    .send({ source: makePackDir(src.dir, ref, version) });

describe("list body reuse", () => {
  it("answers a repeated list with the same bytes, and an install through the API shows at once", async () => {
    const empty = await list();
    expect(empty.status).toBe(200);
    expect(empty.body.pagination.total_items).toBe(0);
    expect((await list()).text).toBe(empty.text);
    expect((await install("cache_a")).status).toBe(201);
    const one = await list();
    expect(refs(one)).toEqual(["cache_a"]);
    expect(one.body.pagination.total_items).toBe(1);
    expect(one.headers["content-type"]).toMatch(/^application\/json/);
  });

  it("sees a write made over another connection to the store (as another process's CLI would)", async () => {
    const before = await list();
    const other = await openDatabase({ home: api.home });
    try {
      const repos = repositories(other.db);
      const pack = await repos.packs.create({ ref: "cache_b", label: "b", version: "2.0.0" });
      await repos.installations.create({
        packId: pack.id,
        sourceType: "git",
        checksum: `sha256:${"a".repeat(64)}`,
        installationMethod: "cli",
        storagePath: path.join(api.packsDir, "cache_b-2.0.0"),
      });
    } finally {
      await other.close();
    }
    const after = await list();
    expect(refs(after)).toEqual([...refs(before), "cache_b"].sort());
  });

  it("keeps bodies apart by query, and an uninstall shows at once in each", async () => {
    expect((await install("cache_c")).status).toBe(201);
    const page1 = await list("?page=1&page_size=1");
    const page2 = await list("?page=2&page_size=1");
    const git = await list("?source_type=git");
    expect(refs(page1)).toEqual(["cache_a"]);
    expect(refs(page2)).toEqual(["cache_b"]);
    expect(refs(git)).toEqual(["cache_b"]);
    expect((await request(api.app).delete("/api/v1/packs/cache_a").set(api.auth())).status).toBe(200);
    expect(refs(await list("?page=1&page_size=1"))).toEqual(["cache_b"]);
    expect(refs(await list("?page=2&page_size=1"))).toEqual(["cache_c"]);
    expect((await list("?source_type=git")).text).toBe(git.text);
  });

  it("sends an ETag and answers If-None-Match with 304 until the data changes", async () => {
    const first = await list();
    const etag = first.headers.etag;
    expect(etag).toMatch(/^W\/"[0-9a-f]+-[A-Za-z0-9+/]{27}"$/);
    const again = await list().set("If-None-Match", etag);
    expect(again.status).toBe(304);
    // both are in the OpenAPI document (the header, the 304, the request header)
    const op = (buildOpenApiDocument() as any).paths["/api/v1/packs"].get; // eslint-disable-line @typescript-eslint/no-explicit-any -- a JSON document
    expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(["200", "304"]));
    expect(Object.keys(op.responses["200"].headers)).toEqual(["ETag"]);
    expect(op.parameters).toContainEqual(expect.objectContaining({ name: "If-None-Match", in: "header" }));
    expect((await install("cache_d")).status).toBe(201);
    const changed = await list().set("If-None-Match", etag);
    expect(changed.status).toBe(200);
    expect(refs(changed)).toContain("cache_d");
    expect(changed.headers.etag).not.toBe(etag);
  });

  it("no other answer has an ETag: If-None-Match is ignored (200), and no answer may be cached", async () => {
    const show = () => request(api.app).get("/api/v1/packs/cache_c").set(api.auth(api.tokens.read));
    const first = await show();
    expect(first.status).toBe(200);
    expect(first.headers.etag).toBeUndefined();
    expect(first.headers["cache-control"]).toBe("no-store");
    expect(first.headers["x-content-type-options"]).toBe("nosniff");
    // the ETag Express would have computed for these bytes, and a wildcard: neither makes a 304
    for (const tag of [`W/"${Buffer.byteLength(first.text).toString(16)}-x"`, "*"])
      expect((await show().set("If-None-Match", tag)).status).toBe(200);
    // nor on the other GETs the OpenAPI document gives no 304: unauthenticated ones, errors
    for (const res of [
      await request(api.app).get("/healthz").set("If-None-Match", "*"),
      await request(api.app).get("/api/v1/openapi.json").set("If-None-Match", "*"),
      await request(api.app).get("/api/v1/registries").set(api.auth()).set("If-None-Match", "*"),
      await request(api.app).get("/api/v1/packs/nothing_here").set(api.auth()).set("If-None-Match", "*"),
    ]) {
      expect([res.status, res.headers.etag]).toEqual([res.status === 404 ? 404 : 200, undefined]);
      expect(res.headers["cache-control"]).toBe("no-store");
    }
  });
});
