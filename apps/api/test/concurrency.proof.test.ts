// Proof (issue 7), small version of scripts/stress/concurrency.mjs: parallel installs through a
// real listening API on SQLite and on PostgreSQL. Same ref: exactly one 201, forced ones 200,
// the others a clear 409, never a 5xx, one consistent final state. Different refs: all 201.
import fs from "node:fs";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { openDatabase } from "@attune/db";
import { createTestDatabase, postgresAvailable, tmpDir } from "@attune/test-utils";
import { openTestApi, type TestApi } from "./support/api";
import { makePackDir } from "./support/fixtures";

const PARALLEL = 6;
const pg = await postgresAvailable();
const providers = pg ? ["sqlite", "postgresql"] : ["sqlite"];

describe.each(providers)("parallel installs through the API on %s", (provider) => {
  const src = tmpDir("attune-api-conc-");
  let db: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  let api: TestApi;
  let base: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    let databaseUrl: string | undefined;
    if (provider === "postgresql") {
      db = await createTestDatabase("attune_api_proof");
      databaseUrl = db.url;
      await (await openDatabase({ home: src.dir, databaseUrl, migrate: true })).close();
    }
    api = await openTestApi({ localSourceRoots: [src.dir], databaseUrl });
    const server = api.app.listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => new Promise((r) => server.close(() => r(undefined)));
  });

  afterAll(async () => {
    await close?.();
    await api?.close();
    await db?.drop();
    src.cleanup();
  });

  const call = async (method: string, p: string, body?: object) => {
    const res = await fetch(`${base}${p}`, {
      method,
      headers: { ...api.auth(), ...(body ? { "Content-Type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json()) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
  };

  it("same ref, some forced: one 201, forced 200, others 409 ECONFLICT, one consistent state", async () => {
    const dir = makePackDir(src.dir, "same", "1.0.0", { "data/blob.txt": "x".repeat(100_000) });
    const res = await Promise.all(
      Array.from({ length: PARALLEL }, (_, i) =>
        call("POST", "/api/v1/packs/install", { source: dir, force: i % 2 === 0 }),
      ),
    );
    const statuses = res.map((r) => r.status);
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    res.forEach((r, i) => {
      if (i % 2 === 1 && r.status !== 201) {
        expect(r.status).toBe(409);
        expect(r.body.code).toBe("ECONFLICT");
        expect(r.body.detail).toMatch(/same/);
      }
      if (i % 2 === 0) expect([200, 201]).toContain(r.status); // force always wins its turn
    });
    const shown = await call("GET", "/api/v1/packs/same");
    expect(shown.body.data.version).toBe("1.0.0");
    expect((await call("POST", "/api/v1/packs/same/verify")).body.data.ok).toBe(true);
    const history = (await call("GET", "/api/v1/packs/same/history")).body.data as Array<{
      outcome: string;
      action: string;
    }>;
    const successes = history.filter((e) => e.outcome === "success" && e.action !== "verify");
    expect(successes).toHaveLength(statuses.filter((s) => s === 200 || s === 201).length);
    expect(fs.readdirSync(api.packsDir).filter((n) => n.startsWith("same"))).toEqual(["same-1.0.0"]);
  });

  it("different refs all succeed and verify", async () => {
    const dirs = Array.from({ length: PARALLEL }, (_, i) => makePackDir(src.dir, `other_${i}`, "1.0.0"));
    const res = await Promise.all(dirs.map((source) => call("POST", "/api/v1/packs/install", { source })));
    expect(res.map((r) => r.status)).toEqual(dirs.map(() => 201));
    for (let i = 0; i < PARALLEL; i++)
      expect((await call("POST", `/api/v1/packs/other_${i}/verify`)).body.data.ok).toBe(true);
    const list = await call("GET", "/api/v1/packs?page_size=100");
    expect(list.body.pagination.total_items).toBe(PARALLEL + 1);
  });
});
