import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { calculateDirectoryChecksum } from "@attune/pack-storage";
import {
  createTestDatabase,
  postgresAvailable,
  serveRoutes,
  tmpDir,
  type RouteServer,
} from "@attune/test-utils";
import { LOOPBACK_ENV } from "./support/api";
import { makePackDir, makeTarGz } from "./support/fixtures";
import { conform } from "./support/openapi";
import { createToken, spawnApi, type ApiProcess } from "./support/process";

const available = await postgresAvailable();
const tmp = tmpDir("attune-api-pg-");
let db: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
let http: RouteServer;
let apis: ApiProcess[] = [];
let token: string;
let dirChecksum: string;

beforeAll(async () => {
  if (!available) return;
  db = await createTestDatabase("attune_api_race");
  const home = path.join(tmp.dir, "home");
  token = (await createToken(home, db.url)).secret; // migrates, as `attune db migrate` would
  http = await serveRoutes();
  const src = makePackDir(tmp.dir, "race", "1.0.0", { "data/blob.txt": "x".repeat(200_000) });
  dirChecksum = await calculateDirectoryChecksum(src);
  http.file("/race-1.0.0.tar.gz", makeTarGz(src, path.join(tmp.dir, "race.tgz")), "application/gzip");
  const env = {
    ...LOOPBACK_ENV,
    ATTUNE_HOME: home,
    DATABASE_URL: db.url,
    ATTUNE_PACKS_DIR: path.join(tmp.dir, "packs"),
  };
  apis = await Promise.all([spawnApi(env), spawnApi(env)]);
});

afterAll(async () => {
  const codes = await Promise.all(apis.map((a) => a.stop()));
  await http?.close();
  await db?.drop();
  tmp.cleanup();
  if (available) expect(codes).toEqual([0, 0]);
});

async function call(url: string, method: string, p: string, body?: object) {
  const res = await fetch(`${url}${p}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = (await res.json()) as any; // eslint-disable-line @typescript-eslint/no-explicit-any -- checked by conform()
  conform({
    status: res.status,
    headers: { "content-type": res.headers.get("content-type")! },
    body: json,
    req: { method, path: p },
  });
  return { status: res.status, body: json };
}

(available ? describe : describe.skip)(
  "two API processes on one PostgreSQL database and one packs dir",
  () => {
    it("racing installs of the same ref end with one consistent result and no 5xx", async () => {
      const source = `${http.url}/race-1.0.0.tar.gz`;
      const first = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          call(apis[i % 2].url, "POST", "/api/v1/packs/install", { source }),
        ),
      );
      const statuses = first.map((r) => r.status).sort();
      expect(statuses.filter((s) => s >= 500)).toEqual([]);
      // exactly one created it; the others found that version installed
      expect(statuses).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);
      expect(first.filter((r) => r.status === 409).every((r) => r.body.code === "ECONFLICT")).toBe(true);

      const forced = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          call(apis[i % 2].url, "POST", "/api/v1/packs/install", { source, force: true }),
        ),
      );
      expect(forced.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);

      for (const api of apis) {
        const list = await call(api.url, "GET", "/api/v1/packs");
        expect(list.body.pagination.total_items).toBe(1);
        const inst = await call(api.url, "GET", "/api/v1/packs/race/installation");
        expect(inst.body.data.checksum).toBe(dirChecksum);
        expect(await calculateDirectoryChecksum(fs.realpathSync(inst.body.data.storage_path))).toBe(
          dirChecksum,
        );
        const verify = await call(api.url, "POST", "/api/v1/packs/race/verify");
        expect(verify.body.data.ok).toBe(true);
      }
      // one visible version directory in the shared packs dir (the store's own entries are hidden)
      const visible = fs.readdirSync(path.join(tmp.dir, "packs")).filter((n) => !n.startsWith("."));
      expect(visible).toEqual(["race-1.0.0"]);
      const history = await call(apis[0].url, "GET", "/api/v1/packs/race/history");
      const successes = history.body.data.filter(
        (e: { outcome: string; action: string }) => e.outcome === "success" && e.action !== "verify",
      );
      expect(successes).toHaveLength(7); // 1 install + 6 reinstalls, each recorded once
    });

    it("refuses to start on an unmigrated database and says how to migrate", async () => {
      const fresh = await createTestDatabase("attune_api_unmigrated");
      try {
        await expect(
          spawnApi({
            ...LOOPBACK_ENV,
            ATTUNE_HOME: path.join(tmp.dir, "home-unmigrated"),
            DATABASE_URL: fresh.url,
          }),
        ).rejects.toThrow(/db migrate/);
      } finally {
        await fresh.drop();
      }
    });
  },
);
