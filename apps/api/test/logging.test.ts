import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import request from "supertest";
import { ioError } from "@attune/pack-storage";
import { createLogger } from "../src/logger";
import { createServer, type InstallerPort } from "../src/index";
import { openTestApi, type TestApi } from "./support/api";
import { conform } from "./support/openapi";

let api: TestApi;
const lines: string[] = [];
const logger = createLogger("info", { write: (s: string) => void lines.push(s) });

beforeAll(async () => {
  api = await openTestApi({ logger });
});
afterAll(async () => {
  await api?.close();
});

const records = () => lines.map((l) => JSON.parse(l) as Record<string, any>);

describe("request logs", () => {
  it("one JSON line per request with method, url, status and request id; the token never appears", async () => {
    lines.length = 0;
    const res = await request(api.app)
      .get("/api/v1/packs?page=1")
      .set(api.auth())
      .set("Cookie", "session=abc");
    expect(res.status).toBe(200);
    const id = res.headers["x-request-id"];
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const done = records().filter((r) => r.msg === "request completed");
    expect(done).toHaveLength(1);
    expect(done[0]).toMatchObject({
      req: { id, method: "GET", url: "/api/v1/packs?page=1" },
      res: { statusCode: 200 },
    });
    expect(done[0].req.headers.authorization).toBe("[redacted]");
    expect(done[0].req.headers.cookie).toBe("[redacted]");
    const all = lines.join("\n");
    expect(all).not.toContain(api.tokens.all);
    expect(all).not.toContain(api.tokens.all.slice(4));
  });

  it("a rejected token is not logged either, and the problem carries the request id", async () => {
    lines.length = 0;
    const secret = `att_${"Z".repeat(43)}`;
    const res = await request(api.app)
      .get("/api/v1/packs")
      .set("Authorization", `Bearer ${secret}`)
      .set("X-Request-Id", "trace-42");
    expect(res.status).toBe(401);
    expect(res.body.request_id).toBe("trace-42");
    expect(res.headers["x-request-id"]).toBe("trace-42");
    expect(lines.join("\n")).not.toContain(secret);
    expect(records().find((r) => r.req?.id === "trace-42")?.level).toBe(40);
  });

  it("a token a client put in the URL (refused) is not logged, by name or by shape", async () => {
    lines.length = 0;
    const secret = api.tokens.all;
    const encoded = [...secret].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`).join("");
    for (const q of [
      `access_token=${secret}`,
      `t=${secret}`,
      `api_key=x${secret}`,
      `authorization=Bearer%20${secret}`,
      `x=%0a${secret}`,
      `x=att%5F${secret.slice(4)}`,
      `x=${encoded}`,
    ]) {
      const res = await request(api.app).get(`/api/v1/packs?${q}`);
      expect(res.status).toBe(401);
    }
    // in the path too: a 400 whose message quotes the ref
    expect((await request(api.app).get(`/api/v1/packs/${secret}`).set(api.auth())).status).toBe(400);
    const all = lines.join("\n");
    expect(all).not.toContain(secret.slice(4));
    expect(all).not.toContain(encoded.slice(12));
    expect(
      records()
        .filter((r) => r.msg === "request completed" || r.msg === "request errored")
        .map((r) => r.req.url),
    ).toEqual([
      "/api/v1/packs?access_token=***",
      "/api/v1/packs?t=att_***",
      "/api/v1/packs?api_key=***",
      "/api/v1/packs?authorization=***",
      "/api/v1/packs?x=\natt_***",
      "/api/v1/packs?x=att_***",
      "/api/v1/packs?x=att_***",
      "/api/v1/packs/att_***",
    ]);
  });

  it("shows a credential header only when it was sent: redacted then (even empty), absent otherwise", async () => {
    lines.length = 0;
    const calls: Array<[string, Record<string, string>]> = [
      ["/healthz", {}], // no auth needed, none sent
      ["/api/v1/packs", {}], // 401: no Authorization header
      ["/api/v1/packs", api.auth()],
      ["/api/v1/packs", { Authorization: "" }], // 401: present but empty
      ["/healthz", { "Proxy-Authorization": "Basic eDp5" }],
    ];
    for (const [url, headers] of calls) await request(api.app).get(url).set(headers);
    const logged = records()
      .filter((r) => r.msg === "request completed" || r.msg === "request errored")
      .map((r) => r.req.headers as Record<string, unknown>);
    expect(logged).toHaveLength(calls.length);
    expect(logged.map((h) => [h.authorization, h["proxy-authorization"], h.cookie])).toEqual([
      [undefined, undefined, undefined],
      [undefined, undefined, undefined],
      ["[redacted]", undefined, undefined],
      ["[redacted]", undefined, undefined],
      [undefined, "[redacted]", undefined],
    ]);
    for (const h of logged.slice(0, 2)) expect(Object.keys(h)).not.toContain("authorization");
    const all = lines.join("\n");
    expect(all).not.toContain(api.tokens.all);
    expect(all).not.toContain("eDp5");
  });

  it("an X-Request-Id that could forge log content is replaced", async () => {
    const res = await request(api.app).get("/healthz").set("X-Request-Id", 'a b" level=60 msg=fake');
    expect(res.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("unexpected errors", () => {
  it("are 500 without path or stack in the body; the log has the stack", async () => {
    lines.length = 0;
    // Fault injection: the real installer, with list() failing the way a library bug would.
    const broken = new Proxy(api.installer as unknown as InstallerPort, {
      get(target, prop, receiver) {
        if (prop === "list")
          return async () => {
            throw new TypeError(`cannot read ${api.home}/attune.db: boom`);
          };
        return Reflect.get(target, prop, receiver);
      },
    });
    const app = createServer({
      installer: broken,
      verifyToken: async () => ({ tokenId: 1, identityId: 1, name: "t", scopes: ["packs:read"] }),
      logger,
    });
    const res = await request(app).get("/api/v1/packs").set("Authorization", "Bearer x");
    expect(res.status).toBe(500);
    conform(res);
    expect(res.body.code).toBe("EINTERNAL");
    const body = JSON.stringify(res.body);
    expect(body).not.toContain(api.home);
    expect(body).not.toContain("boom");
    expect(body).not.toMatch(/at .*\.ts:\d+/);
    expect(res.body.detail).toContain(res.body.request_id);
    const logged = records().find((r) => r.res?.statusCode === 500);
    expect(logged?.level).toBe(50);
    expect(logged?.err?.stack).toContain("boom");
  });

  it("an I/O error from a library is 500 with its code, and neither path nor cause leaks", async () => {
    const file = `${api.packsDir}/.store-v1/secret-dir/pack.yaml`;
    const eio = ioError(
      Object.assign(new Error(`EACCES: permission denied, open '${file}'`), { code: "EACCES" }),
      file,
      "read",
    );
    const broken = new Proxy(api.installer as unknown as InstallerPort, {
      get(target, prop, receiver) {
        if (prop === "verify")
          return async () => {
            throw eio;
          };
        return Reflect.get(target, prop, receiver);
      },
    });
    const app = createServer({
      installer: broken,
      verifyToken: async () => ({ tokenId: 1, identityId: 1, name: "t", scopes: ["packs:read"] }),
      logger,
      privatePaths: [api.home],
    });
    const res = await request(app).post("/api/v1/packs/demo/verify").set("Authorization", "Bearer x");
    expect(res.status).toBe(500);
    conform(res);
    expect(res.body).toMatchObject({ code: "EIO", type: "urn:attune:problem:eio" });
    const body = JSON.stringify(res.body);
    expect(body).not.toContain("secret-dir");
    expect(body).not.toContain("EACCES");
    expect(res.body.hint).toBeUndefined();
  });
});
