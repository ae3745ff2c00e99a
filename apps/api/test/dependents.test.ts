import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import request from "supertest";
import { tmpDir } from "@attune/test-utils";
import { openTestApi, type TestApi } from "./support/api";
import { makePackDir, packYaml } from "./support/fixtures";
import { conform } from "./support/openapi";

let api: TestApi;
const tmp = tmpDir("attune-api-deps-");
const src = tmp.dir;

beforeAll(async () => {
  api = await openTestApi({ localSourceRoots: [src] });
});
afterAll(async () => {
  await api.close();
  tmp.cleanup();
});

const install = (dir: string) =>
  request(api.app).post("/api/v1/packs/install").set(api.auth()).send({ source: dir });

describe("installed dependents", () => {
  beforeAll(async () => {
    expect((await install(makePackDir(src, "base", "1.3.0"))).status).toBe(201);
    const app = makePackDir(src, "app", "1.0.0", {
      "pack.yaml": packYaml("app", "1.0.0", 'dependencies:\n  - "base@^1.2.0"\n'),
    });
    expect((await install(app)).status).toBe(201);
  });

  it("an upgrade that breaks one is 409 EDEPENDENCY naming it; skip_deps installs anyway", async () => {
    const res = await install(makePackDir(src, "base", "2.0.0"));
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({
      code: "EDEPENDENCY",
      detail:
        "installing base 2.0.0 would break installed packs that depend on it: app 1.0.0 (needs base@^1.2.0)",
    });
    expect(res.body.hint).toMatch(/skip_deps/);
    conform(res);
    // skip_deps installs it, and the response names the dependent it leaves without
    const skipped = await request(api.app)
      .post("/api/v1/packs/install")
      .set(api.auth())
      .send({ source: makePackDir(src, "base", "2.0.0"), skip_deps: true });
    expect(skipped.status).toBe(200);
    expect(skipped.body.data.broken_dependents).toEqual([{ ref: "app", version: "1.0.0", range: "^1.2.0" }]);
    expect(skipped.body.data).not.toHaveProperty("unmet_dependencies");
    conform(skipped);
    // back in range, as the other tests expect (a plain install: the fields are absent)
    const back = await request(api.app)
      .post("/api/v1/packs/install")
      .set(api.auth())
      .send({ source: makePackDir(src, "base", "1.3.0"), skip_deps: true });
    expect(back.status).toBe(200);
    expect(Object.keys(back.body.data).sort()).toEqual(["installation", "pack"]);
  });

  it("an install with skip_deps names its unmet dependencies", async () => {
    const lone = makePackDir(src, "lone", "1.0.0", {
      "pack.yaml": packYaml("lone", "1.0.0", 'dependencies:\n  - "ghost@>=2"\n  - "base@^1"\n'),
    });
    const res = await request(api.app)
      .post("/api/v1/packs/install")
      .set(api.auth())
      .send({ source: lone, skip_deps: true });
    expect(res.status).toBe(201);
    expect(res.body.data.unmet_dependencies).toEqual([{ ref: "ghost", range: ">=2", installed: null }]);
    expect(res.body.data).not.toHaveProperty("broken_dependents");
    conform(res);
    expect((await request(api.app).delete("/api/v1/packs/lone").set(api.auth())).status).toBe(200);
  });

  it("an uninstall is 409 naming the dependents; ?skip_deps=true removes it", async () => {
    const refused = await request(api.app).delete("/api/v1/packs/base").set(api.auth());
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({
      code: "EDEPENDENCY",
      detail: "pack 'base' is needed by installed packs: app 1.0.0 (needs base@^1.2.0)",
    });
    conform(refused);
    expect((await request(api.app).get("/api/v1/packs/base").set(api.auth())).status).toBe(200);
    const bad = await request(api.app).delete("/api/v1/packs/base?skip_deps=yes").set(api.auth());
    expect(bad.status).toBe(400);
    const ok = await request(api.app).delete("/api/v1/packs/base?skip_deps=true").set(api.auth());
    expect(ok.status).toBe(200);
    expect(ok.body.data).toEqual({
      ref: "base",
      removed: ["1.3.0"],
      broken_dependents: [{ ref: "app", version: "1.0.0", range: "^1.2.0" }],
    });
    conform(ok);
  });
});
