import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "@jest/globals";
import request from "supertest";
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
    fs.renameSync(`${api.packsDir}.away`, api.packsDir);
    expect((await request(api.app).get("/readyz")).body).toEqual({ status: "ready" });
  });

  it("refuses other methods with 405", async () => {
    api = await openTestApi();
    const r = await request(api.app).post("/readyz");
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe("GET");
  });
});
