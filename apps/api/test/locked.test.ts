import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import request from "supertest";
import { openTestApi, type TestApi } from "./support/api";
import { makePackDir } from "./support/fixtures";
import { conform } from "./support/openapi";

let api: TestApi;
let sources: string;

beforeAll(async () => {
  sources = fs.mkdtempSync(path.join(os.tmpdir(), "attune-api-lock-"));
  // the test's own sources are allowed (the API's default allows none); a lock is waited for 0.4 s
  api = await openTestApi({ localSourceRoots: [sources], lockTimeoutMs: 400 });
});

afterAll(async () => {
  await api?.close();
  fs.rmSync(sources, { recursive: true, force: true });
});

/**
 * A lock on `ref` as another process leaves it (docs/install-flow.md "Locks"): a fresh lock directory
 * whose `owner` record names a process on another machine sharing the packs directory, which this
 * server cannot see and so waits for until the lock turns stale (10 s, longer than the test's wait).
 */
function lockHeldElsewhere(ref: string, owner: Record<string, unknown>): string {
  const dir = path.join(api.packsDir, ".locks", `${ref}.lock`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "owner"), JSON.stringify(owner));
  return dir;
}

describe("an install that waits too long for another one's lock", () => {
  it("is a 409 ELOCKED whose problem names the process holding the lock", async () => {
    const dir = lockHeldElsewhere("held", {
      pid: 4242,
      host: "host-a",
      boot: "0f0e0d0c-0b0a-0908-0706-050403020100",
      pidns: "pid:[4026531836]",
      start: "12345",
    });
    try {
      const res = await request(api.app)
        .post("/api/v1/packs/install")
        .set(api.auth())
        .send({ source: makePackDir(sources, "held", "1.0.0") });
      conform(res);
      expect(res.status).toBe(409);
      expect(res.body).toMatchObject({ code: "ELOCKED", holder: { pid: 4242, host: "host-a" } });
      expect(res.body.detail).toContain("process 4242 on host-a holds its lock");
      expect(res.body.hint).toMatch(/should process 4242 hang, stop it/);
      // nothing was installed, and the other process's lock is left to it
      const list = await request(api.app).get("/api/v1/packs").set(api.auth());
      expect(list.body.data).toEqual([]);
      expect(fs.existsSync(path.join(dir, "owner"))).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("has no holder when the lock does not name one (a record that is not one)", async () => {
    const dir = lockHeldElsewhere("unnamed", { pid: "not a number" });
    try {
      const res = await request(api.app)
        .post("/api/v1/packs/install")
        .set(api.auth())
        .send({ source: makePackDir(sources, "unnamed", "1.0.0") });
      conform(res);
      expect(res.status).toBe(409);
      expect(res.body.code).toBe("ELOCKED");
      expect(res.body).not.toHaveProperty("holder");
      expect(res.body.detail).not.toContain("holds its lock");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("installs once the lock is gone", async () => {
    const res = await request(api.app)
      .post("/api/v1/packs/install")
      .set(api.auth())
      .send({ source: makePackDir(sources, "held", "1.0.1") });
    expect(res.status).toBe(201);
    expect(res.body.data.pack.ref).toBe("held");
  });
});
