// A PostgreSQL server that stops answering under a running API (a hung server, a network that
// drops packets): requests must not hang for ever, and the answer is 503 with Retry-After, not a
// 500 and not a body naming the database. Also: an API that cannot reach its database at start
// exits with a message instead of waiting for ever.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import {
  createTestDatabase,
  freezableProxy,
  postgresAvailable,
  silentServer,
  tmpDir,
} from "@attune/test-utils";
import { conform } from "./support/openapi";
import { createToken, spawnApi, type ApiProcess } from "./support/process";

const available = await postgresAvailable();
const tmp = tmpDir("attune-api-db-down-");

afterAll(() => tmp.cleanup());

async function get(api: ApiProcess, p: string, token?: string) {
  const res = await fetch(`${api.url}${p}`, {
    headers: token ? { Authorization: `Bearer ${token}` } : {},
    signal: AbortSignal.timeout(20_000),
  });
  const body = (await res.json()) as any; // eslint-disable-line @typescript-eslint/no-explicit-any -- checked by conform()
  return {
    status: res.status,
    body,
    retryAfter: res.headers.get("retry-after"),
    type: res.headers.get("content-type"),
  };
}

(available ? describe : describe.skip)("PostgreSQL stops answering under a running API", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let proxy: Awaited<ReturnType<typeof freezableProxy>>;
  let api: ApiProcess;
  let token: string;

  beforeAll(async () => {
    db = await createTestDatabase("attune_api_db_down");
    const home = path.join(tmp.dir, "home");
    token = (await createToken(home, db.url)).secret; // migrates, as `attune db migrate` would
    proxy = await freezableProxy(new URL(db.url));
    const u = new URL(db.url);
    u.host = `127.0.0.1:${proxy.port}`;
    u.searchParams.set("query_timeout", "1500");
    api = await spawnApi({
      ATTUNE_HOME: home,
      DATABASE_URL: u.toString(),
      ATTUNE_PACKS_DIR: path.join(tmp.dir, "packs"),
      // every request asks the database about its token: the auth path is tested too
      ATTUNE_API_TOKEN_CACHE_MS: "0",
    });
  });

  afterAll(async () => {
    await api?.stop();
    await proxy?.close();
    await db?.drop();
  });

  it("answers 503 EDATABASE with Retry-After within the statement timeout, naming no database", async () => {
    const before = await get(api, "/api/v1/packs", token);
    expect(before.status).toBe(200);
    proxy.freeze();
    const started = Date.now();
    const res = await get(api, "/api/v1/packs", token);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(res.status).toBe(503);
    expect(res.body.code).toBe("EDATABASE");
    expect(res.retryAfter).toBe("5");
    expect(res.body.detail).toMatch(/^the database is not answering or cannot be reached; retry later/);
    expect(JSON.stringify(res.body)).not.toContain(String(proxy.port));
    conform({
      status: res.status,
      headers: { "content-type": res.type! },
      body: res.body,
      req: { method: "GET", path: "/api/v1/packs" },
    });
    // readiness says so too (its own 2 s bound)
    const ready = await get(api, "/readyz");
    expect(ready.status).toBe(503);
    // and the process is still serving what needs no database
    expect((await get(api, "/healthz")).status).toBe(200);
  }, 30_000);
});

describe("an API whose database accepts connections and never answers", () => {
  it("exits at start with EDATABASE naming the connect timeout, instead of waiting for ever", async () => {
    const silent = await silentServer();
    try {
      const started = Date.now();
      await expect(
        spawnApi({
          ATTUNE_HOME: path.join(tmp.dir, "home-silent"),
          DATABASE_URL: `postgresql://postgres@127.0.0.1:${silent.port}/attune?connect_timeout=1`,
          ATTUNE_PACKS_DIR: path.join(tmp.dir, "packs-silent"),
        }),
      ).rejects.toThrow(/api exited with 1 before listening: .*EDATABASE.*connect timeout/s);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await silent.close();
    }
  }, 20_000);
});
