import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "@jest/globals";
import request from "supertest";
import { PackStorage } from "@attune/pack-storage";
import { serveRoutes } from "@attune/test-utils";
import { createLogger } from "../src/logger";
import { openTestApi, type TestApi } from "./support/api";
import { makePackDir, makeTarGz } from "./support/fixtures";
import { conform } from "./support/openapi";

let api: TestApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

function logTo(lines: string[]) {
  return createLogger("info", { write: (s: string) => void lines.push(s) });
}

describe("GET /readyz", () => {
  it("is 503 EDATABASE once the SQLite file is deleted under the server, and no write is lost silently", async () => {
    const lines: string[] = [];
    api = await openTestApi({ logger: logTo(lines) });
    const db = path.join(api.home, "attune.db");
    expect(fs.existsSync(db)).toBe(true);
    expect((await request(api.app).get("/readyz")).status).toBe(200);
    // the list path has opened its connection
    expect((await request(api.app).get("/api/v1/packs").set(api.auth())).status).toBe(200);

    for (const f of [db, `${db}-wal`, `${db}-shm`]) fs.rmSync(f, { force: true });

    const r = await request(api.app).get("/readyz");
    expect(r.status).toBe(503);
    expect(r.body).toEqual({ status: "not_ready", code: "EDATABASE" });
    conform(r);
    // the body names no path (no auth on /readyz); the log has the whole story for the operator
    expect(JSON.stringify(r.body)).not.toContain(api.home);
    const logged = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === "readiness check failed");
    expect(logged).toMatchObject({ code: "EDATABASE" });
    expect(String(logged!.error)).toContain("was deleted while this process had it open");
    expect(String(logged!.hint)).toMatch(/^stop every attune process using this database/);

    // an install now fails with the same clear error instead of writing into the deleted file
    const src = path.join(api.root, "src");
    const tgz = makeTarGz(makePackDir(src, "late", "1.0.0"), path.join(src, "late.tgz"));
    const http = await serveRoutes();
    try {
      http.file("/late.tgz", tgz, "application/gzip");
      const res = await request(api.app)
        .post("/api/v1/packs/install")
        .set(api.auth())
        .send({ source: `${http.url}/late.tgz` });
      expect(res.status).toBe(500);
      expect(res.body).toMatchObject({ code: "EDATABASE" });
      // a 5xx body points at the log (no server internals to the client); the log says what and why
      expect(res.body.detail).toMatch(/server log has the details/);
      expect(
        lines.filter((l) => l.includes("was deleted while this process had it open")).length,
      ).toBeGreaterThan(1);
    } finally {
      await http.close();
    }
    // the pack's files were not kept without a row
    expect(fs.existsSync(path.join(api.packsDir, "late"))).toBe(false);
  });

  it("is 503 when the packs directory is gone, and 200 again once it is back", async () => {
    api = await openTestApi();
    fs.renameSync(api.packsDir, `${api.packsDir}.away`);
    const r = await request(api.app).get("/readyz");
    expect(r.status).toBe(503);
    expect(r.body).toEqual({ status: "not_ready", code: "ENOENT" });
    // a verify is refused too (503, the way on in the body) and does not make the directory anew:
    // its lock lives there, and a new, empty directory would swallow the restore of the old one
    const v = await request(api.app).post("/api/v1/packs/core/verify").set(api.auth());
    expect(v.status).toBe(503);
    conform(v);
    expect(v.body).toMatchObject({
      code: "ECONFIG",
      detail:
        "refusing to verify 'core': cannot read the packs directory <server>: no such file or directory; the database records 0 installed packs",
      hint: expect.stringMatching(/^restore the packs directory <server> from a backup/),
    });
    expect(fs.existsSync(api.packsDir)).toBe(false);
    fs.renameSync(`${api.packsDir}.away`, api.packsDir);
    expect((await request(api.app).get("/readyz")).body).toEqual({ status: "ready" });
    expect((await request(api.app).post("/api/v1/packs/core/verify").set(api.auth())).status).toBe(404);
  });

  it("stays 503 once the packs directory is emptied under the server: writes are refused with 503, never starting a new, empty store", async () => {
    api = await openTestApi();
    const a = api;
    const src = path.join(a.root, "src");
    const http = await serveRoutes();
    const install = (ref: string) => {
      http.file(
        `/${ref}.tgz`,
        makeTarGz(makePackDir(src, ref, "1.0.0"), path.join(src, `${ref}.tgz`)),
        "application/gzip",
      );
      return request(a.app)
        .post("/api/v1/packs/install")
        .set(a.auth())
        .send({ source: `${http.url}/${ref}.tgz` });
    };
    try {
      expect((await install("first")).status).toBe(201);
      for (const n of fs.readdirSync(a.packsDir)) fs.rmSync(path.join(a.packsDir, n), { recursive: true });
      expect((await request(a.app).get("/readyz")).body).toEqual({ status: "not_ready", code: "EIO" });

      const res = await install("second");
      expect(res.status).toBe(503);
      conform(res);
      expect(res.body).toMatchObject({
        code: "ECONFIG",
        detail:
          "refusing to install: the packs directory <server> has lost its store (.store-v1): it was emptied or replaced; the database records 1 installed pack",
        hint: expect.stringMatching(
          /^restore the packs directory <server> from a backup, or restart this process: .*`attune pack verify --all`/,
        ),
      });
      expect(JSON.stringify(res.body)).not.toContain(a.packsDir); // the server's layout stays private
      const del = await request(a.app).delete("/api/v1/packs/first").set(a.auth());
      expect(del.status).toBe(503);
      expect(del.body).toMatchObject({ code: "ECONFIG" });
      expect(fs.readdirSync(a.packsDir)).toEqual([]); // no new store, no files, no journal
      expect((await request(a.app).get("/readyz")).status).toBe(503);
      expect((await request(a.app).get("/api/v1/packs/first").set(a.auth())).status).toBe(200); // still recorded

      // another process makes a new store there (a CLI run, an older version): not the one opened
      await new PackStorage({ packsDir: a.packsDir }).init();
      expect((await request(a.app).get("/readyz")).body).toEqual({ status: "not_ready", code: "EIO" });
      expect((await install("second")).status).toBe(503);
    } finally {
      await http.close();
    }
  });

  it("answers 503 with a message, never 500, when the store cannot even be looked at (a symlink loop in its place)", async () => {
    api = await openTestApi();
    const a = api;
    const src = path.join(a.root, "src");
    const http = await serveRoutes();
    try {
      http.file(
        "/late.tgz",
        makeTarGz(makePackDir(src, "late", "1.0.0"), path.join(src, "late.tgz")),
        "application/gzip",
      );
      const store = path.join(a.packsDir, ".store-v1");
      fs.renameSync(store, path.join(a.root, "store-away"));
      fs.symlinkSync(".store-v1", store); // stat: ELOOP
      expect((await request(a.app).get("/readyz")).body).toEqual({ status: "not_ready", code: "EIO" });
      const res = await request(a.app)
        .post("/api/v1/packs/install")
        .set(a.auth())
        .send({ source: `${http.url}/late.tgz` });
      expect(res.status).toBe(503);
      conform(res);
      expect(res.body).toMatchObject({
        code: "ECONFIG",
        detail: expect.stringMatching(/^refusing to install: cannot read the store <server>/),
        hint: expect.any(String),
      });
      expect(JSON.stringify(res.body)).not.toContain(a.packsDir);
      const del = await request(a.app).delete("/api/v1/packs/late").set(a.auth());
      expect(del.status).toBe(503);

      // mended: the store is back, and so are readiness and writes
      fs.rmSync(store);
      fs.renameSync(path.join(a.root, "store-away"), store);
      expect((await request(a.app).get("/readyz")).body).toEqual({ status: "ready" });
      const ok = await request(a.app)
        .post("/api/v1/packs/install")
        .set(a.auth())
        .send({ source: `${http.url}/late.tgz` });
      expect(ok.status).toBe(201);
    } finally {
      await http.close();
    }
  });

  it("refuses other methods with 405", async () => {
    api = await openTestApi();
    const r = await request(api.app).post("/readyz");
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe("GET, HEAD");
  });
});
