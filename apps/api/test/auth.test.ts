import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { pino } from "pino";
import request from "supertest";
import { createServer, DEFAULT_TOKEN_CACHE_TTL_MS, tokenVerifierFromRepository } from "../src/index";
import { openTestApi, type TestApi } from "./support/api";
import { conform } from "./support/openapi";

let api: TestApi;
beforeAll(async () => {
  api = await openTestApi();
});
afterAll(async () => {
  await api?.close();
});

// every protected operation, with the scope it needs
const OPS: Array<[method: "get" | "post" | "delete", path: string, scope: string]> = [
  ["post", "/api/v1/packs/install", "packs:install"],
  ["get", "/api/v1/packs", "packs:read"],
  ["get", "/api/v1/packs/demo", "packs:read"],
  ["get", "/api/v1/packs/demo/installation", "packs:read"],
  ["get", "/api/v1/packs/demo/history", "packs:read"],
  ["post", "/api/v1/packs/demo/verify", "packs:read"],
  ["delete", "/api/v1/packs/demo", "packs:delete"],
  ["get", "/api/v1/registries", "packs:read"],
  ["get", "/api/v1/registries/search?q=x", "packs:read"],
];

describe("authentication", () => {
  it("leaves only /healthz, /readyz and the OpenAPI document open", async () => {
    const h = await request(api.app).get("/healthz");
    expect(h.status).toBe(200);
    expect(h.body).toEqual({ status: "ok" });
    conform(h);
    const r = await request(api.app).get("/readyz");
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: "ready" });
    conform(r);
    const o = await request(api.app).get("/api/v1/openapi.json");
    expect(o.status).toBe(200);
    expect(o.body.openapi).toBe("3.1.0");
  });

  it.each(OPS)("%s %s without a token is 401 with a Bearer challenge", async (method, path) => {
    const res = await request(api.app)[method](path);
    expect(res.status).toBe(401);
    expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(res.headers["www-authenticate"]).toMatch(/^Bearer /);
    expect(res.body).toMatchObject({ status: 401, code: "EUNAUTHORIZED", title: "Unauthorized" });
    conform(res);
  });

  const badHeaders: Array<[string, string]> = [
    ["a Basic credential", "Basic YWRtaW46YWRtaW4="],
    ["an empty Bearer", "Bearer "],
    ["an unknown token", `Bearer att_${"A".repeat(43)}`],
    ["a token that is not of our format", "Bearer not-a-real-token"],
  ];
  it.each(badHeaders)("%s is 401 invalid_token", async (_name, header) => {
    const res = await request(api.app).get("/api/v1/packs").set("Authorization", header);
    expect(res.status).toBe(401);
    expect(res.headers["www-authenticate"]).toMatch(/^Bearer /);
    expect(res.body.code).toBe("EUNAUTHORIZED");
    conform(res);
  });

  it("an unknown /api/v1 path is 401 without a token (routes are not revealed), 404 with one", async () => {
    expect((await request(api.app).get("/api/v1/secret-admin")).status).toBe(401);
    expect((await request(api.app).get("/api/v1/secret-admin").set(api.auth())).status).toBe(404);
  });

  it("a revoked token is 401 once its cached verification lapses (5 s by default), a valid one is 200", async () => {
    let clock = Date.now();
    const app = createServer({
      installer: api.installer,
      verifyToken: tokenVerifierFromRepository(api.repos.tokens, { now: () => clock }),
      logger: pino({ level: "silent" }),
    });
    const { row, secret } = await api.repos.tokens.create({ name: "short-lived", scopes: ["packs:read"] });
    const list = () => request(app).get("/api/v1/packs").set("Authorization", `Bearer ${secret}`);
    expect((await list()).status).toBe(200);
    await api.repos.tokens.revoke(row.id);
    clock += DEFAULT_TOKEN_CACHE_TTL_MS - 1;
    expect((await list()).status).toBe(200); // still inside the documented window
    clock += 1;
    const res = await list();
    expect(res.status).toBe(401);
    expect(res.body.detail).toMatch(/unknown, revoked or expired/);
  });

  it("with the cache off (ttlMs 0) a revoked token is 401 on the next request", async () => {
    const app = createServer({
      installer: api.installer,
      verifyToken: tokenVerifierFromRepository(api.repos.tokens, { ttlMs: 0 }),
      logger: pino({ level: "silent" }),
    });
    const { row, secret } = await api.repos.tokens.create({ name: "uncached", scopes: ["packs:read"] });
    const list = () => request(app).get("/api/v1/packs").set("Authorization", `Bearer ${secret}`);
    expect((await list()).status).toBe(200);
    await api.repos.tokens.revoke(row.id);
    expect((await list()).status).toBe(401);
  });

  it("two Authorization headers are refused (400 invalid_request), whichever comes first", async () => {
    const server = api.app.listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    const port = (server.address() as { port: number }).port;
    const send = (headers: string[]) =>
      new Promise<{ status: number; body: Record<string, unknown>; challenge: string }>((resolve, reject) => {
        const req = http.request({ host: "127.0.0.1", port, path: "/api/v1/packs", headers }, (res) => {
          let text = "";
          res.on("data", (c) => (text += String(c)));
          res.on("end", () => {
            try {
              resolve({
                status: res.statusCode ?? 0,
                body: JSON.parse(text),
                challenge: String(res.headers["www-authenticate"] ?? ""),
              });
            } catch (e) {
              reject(new Error(`HTTP ${res.statusCode}: ${text} (${String(e)})`));
            }
          });
        });
        req.on("error", reject);
        req.end();
      });
    try {
      const good = api.auth().Authorization;
      for (const pair of [
        [good, "Bearer bad"],
        ["Bearer bad", good],
      ]) {
        const r = await send([
          "Host",
          "x",
          "Authorization",
          pair[0],
          "Authorization",
          pair[1],
          "Connection",
          "close",
        ]);
        expect(r.status).toBe(400);
        expect(r.body).toMatchObject({
          code: "EINVALID_INPUT",
          errors: [{ field: "Authorization" }],
          hint: expect.stringContaining("one Authorization"),
        });
        expect(r.challenge).toMatch(/error="invalid_request"/);
      }
      expect((await send(["Host", "x", "Authorization", good, "Connection", "close"])).status).toBe(200);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it("an expired token is 401", async () => {
    const { secret } = await api.repos.tokens.create({
      name: "expired",
      scopes: ["packs:read"],
      expiresAt: new Date(Date.now() - 1000),
    });
    const res = await request(api.app).get("/api/v1/packs").set("Authorization", `Bearer ${secret}`);
    expect(res.status).toBe(401);
  });
});

describe("scopes", () => {
  const tokenWithout = (scope: string) =>
    scope === "packs:read"
      ? api.tokens.install
      : scope === "packs:install"
        ? api.tokens.read
        : api.tokens.read;

  it.each(OPS)("%s %s without its scope is 403 naming the scope", async (method, path, scope) => {
    const req = request(api.app)
      [method](path)
      .set(api.auth(tokenWithout(scope)));
    const res =
      method === "post" && path.endsWith("install") ? await req.send({ source: "demo" }) : await req;
    expect(res.status).toBe(403);
    expect(res.body.code).toBe("EFORBIDDEN");
    expect(res.body.detail).toContain(scope);
    expect(res.headers["www-authenticate"]).toContain(`scope="${scope}"`);
    conform(res);
  });

  it("an install without the scope is 403 before its body is read: malformed, oversized or of another type", async () => {
    const post = () => request(api.app).post("/api/v1/packs/install").set(api.auth(api.tokens.read));
    for (const res of [
      await post().set("Content-Type", "application/json").send("{"),
      await post()
        .set("Content-Type", "application/json")
        .send(JSON.stringify({ source: "x".repeat(200_000) })),
      await post().set("Content-Type", "text/plain").send("hello"),
      await post().send({ source: "demo", unknown_field: true }),
    ]) {
      expect({ status: res.status, code: res.body.code }).toEqual({ status: 403, code: "EFORBIDDEN" });
      conform(res);
    }
  });

  it("the delete-only token can neither read nor install", async () => {
    const list = await request(api.app).get("/api/v1/packs").set(api.auth(api.tokens.delete));
    expect(list.status).toBe(403);
    const inst = await request(api.app)
      .post("/api/v1/packs/install")
      .set(api.auth(api.tokens.delete))
      .send({ source: "demo" });
    expect(inst.status).toBe(403);
  });
});
