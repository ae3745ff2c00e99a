import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import request from "supertest";
import { serveRoutes, type RouteServer } from "@attune/test-utils";
import { openTestApi, type TestApi } from "./support/api";
import { makePackDir, makeTarGz } from "./support/fixtures";
import { conform } from "./support/openapi";

let api: TestApi;
let http: RouteServer;
let src: string;

beforeAll(async () => {
  http = await serveRoutes();
  http.file(
    "/index.json",
    JSON.stringify({
      registry_name: "Fixtures",
      registry_url: http.url,
      version: "1.0",
      last_updated: "2026-01-01T00:00:00Z",
      packs: [
        {
          ref: "slack",
          label: "Slack",
          description: "Post messages to Slack",
          version: "3.0.0",
          author: "Attune",
          license: "MIT",
          keywords: ["chat"],
          runtime_deps: [],
          install_sources: [
            { type: "archive", url: `${http.url}/slack.tgz`, checksum: `sha256:${"1".repeat(64)}` },
          ],
          contents: { actions: [], sensors: [], triggers: [], rules: [], workflows: [] },
        },
      ],
    }),
    "application/json",
  );
  api = await openTestApi({ env: { ATTUNE_REGISTRIES: `fixtures=${http.url}/index.json` } });
  src = path.join(api.root, "src");
  // archives are served over HTTP; local paths are refused by this API (no roots configured)
  for (const [ref, version] of [
    ["alpha", "1.0.0"],
    ["beta", "2.1.0"],
    ["gamma", "0.3.0"],
  ]) {
    http.file(
      `/${ref}.tgz`,
      makeTarGz(makePackDir(src, ref, version), path.join(src, `${ref}.tgz`)),
      "application/gzip",
    );
    const res = await request(api.app)
      .post("/api/v1/packs/install")
      .set(api.auth())
      .send({ source: `${http.url}/${ref}.tgz` });
    expect(res.status).toBe(201);
  }
});

afterAll(async () => {
  await http?.close();
  await api?.close();
});

const get = (p: string) => request(api.app).get(p).set(api.auth(api.tokens.read));

describe("GET /api/v1/packs", () => {
  it("pages with total counts", async () => {
    const p1 = await get("/api/v1/packs?page=1&page_size=2");
    expect(p1.status).toBe(200);
    conform(p1);
    expect(p1.body.pagination).toEqual({ page: 1, page_size: 2, total_items: 3, total_pages: 2 });
    expect(p1.body.data).toHaveLength(2);
    const p2 = await get("/api/v1/packs?page=2&page_size=2");
    expect(p2.body.data).toHaveLength(1);
    const refs = [...p1.body.data, ...p2.body.data].map((i: { pack: { ref: string } }) => i.pack.ref).sort();
    expect(refs).toEqual(["alpha", "beta", "gamma"]);
    const beyond = await get("/api/v1/packs?page=9&page_size=2");
    expect(beyond.status).toBe(200);
    expect(beyond.body.data).toEqual([]);
  });

  it("filters by source_type", async () => {
    const archive = await get("/api/v1/packs?source_type=archive");
    expect(archive.body.pagination.total_items).toBe(3);
    const gitOnly = await get("/api/v1/packs?source_type=git");
    expect(gitOnly.status).toBe(200);
    conform(gitOnly);
    expect(gitOnly.body).toEqual({
      data: [],
      pagination: { page: 1, page_size: 20, total_items: 0, total_pages: 0 },
    });
  });
});

describe("one pack", () => {
  it("GET /packs/{ref} and /installation", async () => {
    const pack = await get("/api/v1/packs/beta");
    expect(pack.status).toBe(200);
    conform(pack);
    expect(pack.body.data).toMatchObject({ ref: "beta", version: "2.1.0", label: "beta pack" });
    const inst = await get("/api/v1/packs/beta/installation");
    expect(inst.status).toBe(200);
    conform(inst);
    expect(inst.body.data).toMatchObject({
      pack_id: pack.body.data.id,
      source_type: "archive",
      installed_by: api.identityId,
    });
  });

  it("unknown refs are 404 problems on every read", async () => {
    for (const p of ["/api/v1/packs/nope", "/api/v1/packs/nope/installation", "/api/v1/packs/nope/history"]) {
      const res = await get(p);
      expect(res.status).toBe(404);
      expect(res.body.code).toBe("ENOTFOUND");
      conform(res);
    }
    const verify = await request(api.app).post("/api/v1/packs/nope/verify").set(api.auth());
    expect(verify.status).toBe(404);
    conform(verify);
    const del = await request(api.app).delete("/api/v1/packs/nope").set(api.auth());
    expect(del.status).toBe(404);
    conform(del);
  });

  it("tells two tokens of one name apart: each event and the installation record the token that acted", async () => {
    // tokens of one name share an identity: the token id is what tells them apart
    const first = await api.repos.tokens.create({ name: "ci", scopes: ["packs:read"] });
    const second = await api.repos.tokens.create({ name: "ci", scopes: ["packs:read"] });
    expect(second.row.identityId).toBe(first.row.identityId);
    for (const t of [first, second])
      expect((await request(api.app).post("/api/v1/packs/alpha/verify").set(api.auth(t.secret))).status).toBe(
        200,
      );
    const events = (await get("/api/v1/packs/alpha/history")).body.data as Array<Record<string, any>>;
    const verifies = events.filter((e) => e.action === "verify" && e.actor_name === "ci").slice(-2);
    expect(verifies.map((e) => e.details.token_id)).toEqual([first.row.id, second.row.id]);
    expect(new Set(verifies.map((e) => e.actor_id))).toEqual(new Set([first.row.identityId]));
    // the install (by the admin token) says which token made it, in its event and its meta
    const install = events.find((e) => e.action === "install")!;
    const adminId = (await api.repos.tokens.list()).find((t) => t.name === "admin")!.id;
    expect(install.details.token_id).toBe(adminId);
    expect((await get("/api/v1/packs/alpha/installation")).body.data.meta.token_id).toBe(adminId);
  });

  it("history lists the install event with its actor", async () => {
    const res = await get("/api/v1/packs/alpha/history");
    expect(res.status).toBe(200);
    conform(res);
    expect(res.body.data[0]).toMatchObject({
      pack_ref: "alpha",
      action: "install",
      outcome: "success",
      actor_id: api.identityId,
    });
  });
});

describe("POST /packs/{ref}/verify", () => {
  it("ok for an untouched pack; reports changed, added and removed files after tampering", async () => {
    const ok = await request(api.app).post("/api/v1/packs/gamma/verify").set(api.auth(api.tokens.read));
    expect(ok.status).toBe(200);
    conform(ok);
    expect(ok.body.data).toMatchObject({ ok: true, changed: [], added: [], removed: [] });
    expect(ok.body.data.actual).toBe(ok.body.data.expected);
    expect(Object.keys(ok.body.data).sort()).toEqual([
      "actual",
      "added",
      "changed",
      "error",
      "expected",
      "history_error",
      "ok",
      "removed",
      "version",
    ]);
    expect(ok.body.data.error).toBeNull();
    expect(ok.body.data.history_error).toBeNull();

    const dir = (await get("/api/v1/packs/gamma/installation")).body.data.storage_path as string;
    fs.appendFileSync(path.join(dir, "actions/hello.sh"), "rm -rf /\n");
    fs.writeFileSync(path.join(dir, "actions/extra.sh"), "#!/bin/sh\n");
    fs.rmSync(path.join(dir, "actions/hello.yaml"));
    const bad = await request(api.app).post("/api/v1/packs/gamma/verify").set(api.auth(api.tokens.read));
    expect(bad.status).toBe(200);
    conform(bad);
    expect(bad.body.data).toMatchObject({
      ok: false,
      changed: ["actions/hello.sh"],
      added: ["actions/extra.sh"],
      removed: ["actions/hello.yaml"],
    });
    expect(bad.body.data.actual).not.toBe(bad.body.data.expected);

    // a planted link: named inside the pack, no server path in the body, the same reason in the history
    fs.symlinkSync("/etc/passwd", path.join(dir, "actions/evil"));
    const linked = await request(api.app).post("/api/v1/packs/gamma/verify").set(api.auth(api.tokens.read));
    expect(linked.status).toBe(200);
    conform(linked);
    expect(linked.body.data).toMatchObject({
      ok: false,
      actual: null,
      error: "ESYMLINK: actions/evil is a symbolic link; packs may not contain links",
    });
    expect(JSON.stringify(linked.body)).not.toContain(api.home);
    const events = (await get("/api/v1/packs/gamma/history")).body.data as Array<{
      action: string;
      error: string;
    }>;
    expect(events.at(-1)).toMatchObject({ action: "verify", error: linked.body.data.error });
  });

  // verify takes no options: no body or {} (what the CLI sends); anything else is refused as an
  // install body is, not ignored
  const verify = () => request(api.app).post("/api/v1/packs/beta/verify").set(api.auth(api.tokens.read));

  it.each([
    ["no body", () => verify()],
    ["{} (the CLI's remote mode)", () => verify().send({})],
    ["an empty JSON body", () => verify().set("Content-Type", "application/json").send("")],
    ["a Content-Type without a body", () => verify().set("Content-Type", "text/plain")],
  ])("accepts %s", async (_name, send) => {
    const res = await send();
    expect(res.status).toBe(200);
    conform(res);
    expect(res.body.data.ok).toBe(true);
  });

  it.each([
    ["a field", { version: "2.1.0" }, ["version"]],
    ["several fields", { x: 1, files: ["a"] }, ["x", "files"]],
  ])("refuses %s: 400 naming each, as an unknown install field", async (_name, body, fields) => {
    const res = await verify().send(body);
    expect(res.status).toBe(400);
    conform(res);
    expect(res.body).toMatchObject({ code: "EINVALID_INPUT", detail: `invalid body: ${fields.join(", ")}` });
    expect(res.body.errors).toEqual(fields.map((field) => ({ field, message: "unknown field; remove it" })));
  });

  it("refuses a body that is not JSON (415), an array, null and malformed JSON (400)", async () => {
    const text = await verify().set("Content-Type", "text/plain").send("hello");
    expect(text.status).toBe(415);
    conform(text);
    expect(text.body).toMatchObject({
      code: "EUNSUPPORTED_MEDIA_TYPE",
      errors: [{ field: "Content-Type", message: "must be application/json" }],
    });
    const array = await verify().send([]);
    expect(array.status).toBe(400);
    conform(array);
    expect(array.body.errors).toEqual([{ field: "body", message: expect.any(String) }]);
    const nul = await verify().set("Content-Type", "application/json").send("null");
    expect(nul.status).toBe(400);
    conform(nul);
    expect(nul.body).toMatchObject({
      code: "EINVALID_INPUT",
      hint: "send no body, or an empty JSON object {}",
    });
    const bad = await verify().set("Content-Type", "application/json").send("{bad");
    expect(bad.status).toBe(400);
    conform(bad);
    expect(bad.body.code).toBe("EINVALID_JSON");
    // nothing refused reached the installer: no verify event for them
    const history = (await get("/api/v1/packs/beta/history")).body.data as Array<{ action: string }>;
    expect(history.filter((e) => e.action === "verify")).toHaveLength(4); // the four accepted above
  });

  it("a token without packs:read gets 403 before its body is read, whatever it sent", async () => {
    const res = await request(api.app)
      .post("/api/v1/packs/beta/verify")
      .set(api.auth(api.tokens.install))
      .set("Content-Type", "application/json")
      .send("{bad");
    expect(res.status).toBe(403);
    conform(res);
    expect(res.body.code).toBe("EFORBIDDEN");
  });
});

describe("DELETE /packs/{ref}", () => {
  it("removes files and rows; the history survives", async () => {
    const dir = (await get("/api/v1/packs/alpha/installation")).body.data.storage_path as string;
    expect(fs.existsSync(dir)).toBe(true);
    const res = await request(api.app).delete("/api/v1/packs/alpha").set(api.auth(api.tokens.delete));
    expect(res.status).toBe(200);
    conform(res);
    expect(res.body.data).toEqual({ ref: "alpha", removed: ["1.0.0"] });
    expect(fs.existsSync(dir)).toBe(false);
    expect((await get("/api/v1/packs/alpha")).status).toBe(404);
    expect((await get("/api/v1/packs?page_size=100")).body.pagination.total_items).toBe(2);
    const history = await get("/api/v1/packs/alpha/history");
    expect(history.status).toBe(200);
    const uninstall = history.body.data.find((e: { action: string }) => e.action === "uninstall");
    const deleter = (await api.repos.tokens.list()).find((t) => t.name === "deleter")!;
    expect(uninstall).toMatchObject({
      method: "api",
      actor_id: deleter.identityId,
      actor_name: "deleter",
      outcome: "success",
    });
    const again = await request(api.app).delete("/api/v1/packs/alpha").set(api.auth(api.tokens.delete));
    expect(again.status).toBe(404);
  });

  it("is 200 with files_error when the uninstall is recorded but its files cannot be removed", async () => {
    const link = (await get("/api/v1/packs/beta/installation")).body.data.storage_path as string;
    const dir = fs.realpathSync(link); // the content directory behind the version's link
    // files are removed by moving them into .trash first: a file there fails that (even for root)
    const trash = path.join(api.packsDir, ".trash");
    fs.rmSync(trash, { recursive: true });
    fs.writeFileSync(trash, "in the way");
    try {
      const res = await request(api.app).delete("/api/v1/packs/beta").set(api.auth(api.tokens.delete));
      expect(res.status).toBe(200);
      conform(res);
      expect(res.body.data).toEqual({ ref: "beta", removed: ["2.1.0"], files_error: expect.any(String) });
      expect(res.body.data.files_error).toMatch(
        /^E[A-Z]+: pack 'beta' is uninstalled in the database, but its files could not be removed: /,
      );
      expect(res.body.data.files_error).not.toContain(api.packsDir); // the server's layout stays private
      expect((await get("/api/v1/packs/beta")).status).toBe(404);
      expect(fs.existsSync(dir)).toBe(true); // left behind, for now
    } finally {
      fs.rmSync(trash);
    }
    // mended: the next write on the store finishes the job, whatever its ref, in this same process
    // (no restart, no reconcile)
    expect(fs.existsSync(path.join(api.packsDir, ".journal", "beta.json"))).toBe(true);
    http.file(
      "/delta.tgz",
      makeTarGz(makePackDir(src, "delta", "1.0.0"), path.join(src, "delta.tgz")),
      "application/gzip",
    );
    const next = await request(api.app)
      .post("/api/v1/packs/install")
      .set(api.auth())
      .send({ source: `${http.url}/delta.tgz` });
    expect(next.status).toBe(201);
    expect(fs.existsSync(dir)).toBe(false);
    expect(fs.lstatSync(link, { throwIfNoEntry: false })).toBeUndefined(); // the version's link too
    expect(fs.existsSync(path.join(api.packsDir, ".journal", "beta.json"))).toBe(false);
    const del = await request(api.app).delete("/api/v1/packs/delta").set(api.auth(api.tokens.delete));
    expect(del.body.data).toEqual({ ref: "delta", removed: ["1.0.0"] });
  });
});

describe("GET /packs/{ref}/history, paged", () => {
  type Event = { id: number; action: string };
  const verifyGamma = () =>
    request(api.app).post("/api/v1/packs/gamma/verify").set(api.auth(api.tokens.read));

  it("without page or page_size: the whole history, oldest first, without pagination (as before)", async () => {
    const res = await get("/api/v1/packs/gamma/history");
    expect(res.status).toBe(200);
    conform(res);
    expect(Object.keys(res.body)).toEqual(["data"]);
    expect(res.body.data[0]).toMatchObject({ action: "install" });
  });

  it("page 1 is the newest page_size events, each page oldest first; the pages add up to the whole", async () => {
    for (let i = 0; i < 5; i++) expect((await verifyGamma()).status).toBe(200);
    const all = (await get("/api/v1/packs/gamma/history")).body.data as Event[];
    const n = all.length;
    expect(n).toBeGreaterThanOrEqual(6);
    const p1 = await get("/api/v1/packs/gamma/history?page_size=3");
    expect(p1.status).toBe(200);
    conform(p1);
    expect(p1.body).toEqual({
      data: all.slice(n - 3),
      pagination: { page: 1, page_size: 3, total_items: n, total_pages: Math.ceil(n / 3) },
    });
    expect(p1.body.data.at(-1).id).toBe(Math.max(...all.map((e) => e.id))); // the newest is last
    const p2 = await get("/api/v1/packs/gamma/history?page=2&page_size=3");
    conform(p2);
    expect(p2.body.data).toEqual(all.slice(n - 6, n - 3));
    // walking page 1, 2, … (newest to oldest) and putting each page before the ones read so far
    // reads the whole history in order
    let walked: Event[] = [];
    for (let page = 1; page <= p1.body.pagination.total_pages; page++)
      walked = [...(await get(`/api/v1/packs/gamma/history?page=${page}&page_size=3`)).body.data, ...walked];
    expect(walked).toEqual(all);
    // either parameter alone pages, the other takes the list's default (page 1, 20 a page)
    const onlyPage = await get("/api/v1/packs/gamma/history?page=1");
    conform(onlyPage);
    expect(onlyPage.body.pagination).toEqual({
      page: 1,
      page_size: 20,
      total_items: n,
      total_pages: Math.ceil(n / 20),
    });
    expect(onlyPage.body.data).toEqual(all.slice(Math.max(0, n - 20)));
    // past the last page: 200 with no events, as the list answers
    const beyond = await get("/api/v1/packs/gamma/history?page=99&page_size=3");
    expect(beyond.status).toBe(200);
    conform(beyond);
    expect(beyond.body).toEqual({
      data: [],
      pagination: { page: 99, page_size: 3, total_items: n, total_pages: Math.ceil(n / 3) },
    });
  });

  it("a ref that never had an event is 404 on any page; a bad number is a 400 naming it", async () => {
    const unpaged = await get("/api/v1/packs/nope/history");
    expect(unpaged.status).toBe(404);
    for (const q of ["page=1", "page=5&page_size=10", "page_size=1"]) {
      const res = await get(`/api/v1/packs/nope/history?${q}`);
      expect(res.status).toBe(404);
      conform(res);
      // the same problem as without paging
      expect(res.body).toMatchObject({
        code: "ENOTFOUND",
        detail: unpaged.body.detail,
        hint: unpaged.body.hint,
      });
      expect(res.body.detail).toMatch(/never installed/);
    }
    const bad = await get("/api/v1/packs/gamma/history?page=0&page_size=101");
    expect(bad.status).toBe(400);
    conform(bad);
    expect(bad.body).toMatchObject({ code: "EINVALID_INPUT", detail: "invalid query: page, page_size" });
    const list = await get("/api/v1/packs?page=0&page_size=101");
    expect(bad.body.errors).toEqual(list.body.errors); // the list's very words
  });

  it("pages a history kept after an uninstall", async () => {
    const res = await get("/api/v1/packs/alpha/history?page_size=1");
    expect(res.status).toBe(200);
    conform(res);
    expect(res.body.data).toEqual([expect.objectContaining({ action: "uninstall" })]);
    expect(res.body.pagination.total_items).toBeGreaterThan(1);
  });
});

describe("registries", () => {
  it("lists the configured registries without their headers", async () => {
    const res = await get("/api/v1/registries");
    expect(res.status).toBe(200);
    conform(res);
    expect(res.body.data).toEqual([
      expect.objectContaining({ name: "fixtures", url: `${http.url}/index.json`, enabled: true }),
    ]);
    expect(Object.keys(res.body.data[0]).sort()).toEqual(["enabled", "name", "priority", "url"]);
  });

  it("never shows a secret query value of a registry's URL", async () => {
    const other = await openTestApi({
      env: { ATTUNE_REGISTRIES: `private=${http.url}/index.json?token=REGSECRET&sig=SIGSECRET` },
    });
    try {
      const res = await request(other.app).get("/api/v1/registries").set(other.auth());
      expect(res.status).toBe(200);
      expect(res.body.data[0].url).toBe(`${http.url}/index.json?token=***&sig=***`);
      expect(JSON.stringify(res.body)).not.toMatch(/REGSECRET|SIGSECRET/);
    } finally {
      await other.close();
    }
  });

  it("searches ref, label, description and keywords case-insensitively", async () => {
    for (const q of ["SLACK", "post messages", "chat"]) {
      const res = await get(`/api/v1/registries/search?q=${encodeURIComponent(q)}`);
      expect(res.status).toBe(200);
      conform(res);
      expect(res.body.data.map((h: { ref: string; registry: string }) => [h.ref, h.registry])).toEqual([
        ["slack", "fixtures"],
      ]);
    }
    const none = await get("/api/v1/registries/search?q=zzz");
    expect(none.body.data).toEqual([]);
    // refresh=true reads the index again (the copy is younger than the TTL)
    const fetches = () => http.requests.filter((r) => r.path === "/index.json").length;
    const before = fetches();
    expect((await get("/api/v1/registries/search?q=slack")).status).toBe(200);
    expect(fetches()).toBe(before);
    const fresh = await get("/api/v1/registries/search?q=slack&refresh=true");
    expect(fresh.status).toBe(200);
    conform(fresh);
    expect(fresh.body.registries[0]).toMatchObject({ name: "fixtures", status: "fresh" });
    expect(fetches()).toBe(before + 1);
  });

  it("an unreadable registry does not fail search but is reported; install fails closed (502)", async () => {
    const broken = await openTestApi({
      env: { ATTUNE_REGISTRIES: `down=${http.url}/missing.json,fixtures=${http.url}/index.json` },
    });
    try {
      const res = await request(broken.app).get("/api/v1/registries/search?q=slack").set(broken.auth());
      expect(res.status).toBe(200);
      conform(res);
      expect(res.body.data.map((h: { ref: string }) => h.ref)).toEqual(["slack"]);
      expect(res.body.registries).toEqual([
        expect.objectContaining({
          name: "down",
          status: "error",
          error: expect.objectContaining({ code: "EFETCH" }),
        }),
        expect.objectContaining({ name: "fixtures", status: "fresh", error: null }),
      ]);
      // the higher-priority registry cannot be read: installing must not silently pick the next one
      const inst = await request(broken.app)
        .post("/api/v1/packs/install")
        .set(broken.auth())
        .send({ source: "slack" });
      expect(inst.status).toBe(502);
      expect(inst.body.code).toBe("EFETCH");
      conform(inst);
    } finally {
      await broken.close();
    }
  });

  it("says how to mend a registry this server's settings refuse (error.hint)", async () => {
    const strict = await openTestApi({
      env: { ATTUNE_REGISTRIES: `plain=${http.url}/index.json`, ATTUNE_ALLOW_HTTP: "false" },
    });
    try {
      const res = await request(strict.app).get("/api/v1/registries/search?q=slack").set(strict.auth());
      expect(res.status).toBe(200);
      conform(res);
      expect(res.body.data).toEqual([]);
      expect(res.body.registries).toEqual([
        expect.objectContaining({
          name: "plain",
          status: "error",
          error: {
            code: "EPOLICY",
            detail: expect.stringContaining("plain http is refused"),
            hint: expect.stringContaining("ATTUNE_ALLOW_HTTP=true"),
          },
        }),
      ]);
    } finally {
      await strict.close();
    }
  });
});
