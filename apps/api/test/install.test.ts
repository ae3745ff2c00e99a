import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import request from "supertest";
import { calculateDirectoryChecksum } from "@attune/pack-storage";
import { serveGit, serveRoutes, type RouteServer, type TestServer } from "@attune/test-utils";
import { openTestApi, type TestApi } from "./support/api";
import { listFiles, makePackDir, makePackRepo, makeTarGz } from "./support/fixtures";
import { conform } from "./support/openapi";

let api: TestApi;
let git: TestServer;
let http: RouteServer;
let localRoot: string;
let shas: string[];
let archive: Buffer;
let archiveDirChecksum: string;
let bootstrap: string;

beforeAll(async () => {
  http = await serveRoutes();
  // the registry index is served by the same fixture server; its URL is known once it listens
  bootstrap = fs.mkdtempSync(path.join(os.tmpdir(), "attune-api-fx-"));
  const archiveSrc = makePackDir(bootstrap, "webhooks", "1.2.0");
  archive = makeTarGz(archiveSrc, path.join(bootstrap, "webhooks.tgz"));
  archiveDirChecksum = await calculateDirectoryChecksum(archiveSrc);
  http.file("/dl/webhooks-1.2.0.tar.gz", archive, "application/gzip");
  const tampered = makePackDir(bootstrap, "tampered", "1.0.0");
  http.file(
    "/dl/tampered-1.0.0.tar.gz",
    makeTarGz(tampered, path.join(bootstrap, "t.tgz")),
    "application/gzip",
  );
  // an index's archive source carries the checksum of the archive bytes (DESIGN.md §6)
  const archiveBytesChecksum = `sha256:${createHash("sha256").update(archive).digest("hex")}`;
  http.file("/index.json", JSON.stringify(registryIndex(http.url, archiveBytesChecksum)), "application/json");

  api = await openTestApi({
    localSourceRoots: [path.join(bootstrap, "allowed")],
    env: { ATTUNE_REGISTRIES: `fixtures=${http.url}/index.json` },
  });
  localRoot = path.join(bootstrap, "allowed");
  fs.mkdirSync(localRoot, { recursive: true });
  shas = makePackRepo(path.join(api.root, "git"), "chatops", "chatops");
  git = await serveGit(path.join(api.root, "git"));
});

afterAll(async () => {
  await git?.close();
  await http?.close();
  await api?.close();
  fs.rmSync(bootstrap, { recursive: true, force: true });
});

function registryIndex(base: string, checksum: string) {
  return {
    registry_name: "Fixtures",
    registry_url: base,
    version: "1.0",
    last_updated: "2026-01-01T00:00:00Z",
    packs: [
      {
        ref: "webhooks",
        label: "Webhooks",
        description: "Receive webhooks",
        version: "1.2.0",
        author: "Attune",
        license: "MIT",
        keywords: ["http"],
        runtime_deps: [],
        install_sources: [{ type: "archive", url: `${base}/dl/webhooks-1.2.0.tar.gz`, checksum }],
        contents: { actions: [], sensors: [], triggers: [], rules: [], workflows: [] },
      },
      {
        // the index promises other bytes than the server sends (a swapped or tampered archive)
        ref: "tampered",
        label: "Tampered",
        description: "served bytes do not match the index",
        version: "1.0.0",
        author: "Attune",
        license: "MIT",
        keywords: [],
        runtime_deps: [],
        install_sources: [
          { type: "archive", url: `${base}/dl/tampered-1.0.0.tar.gz`, checksum: `sha256:${"b".repeat(64)}` },
        ],
        contents: { actions: [], sensors: [], triggers: [], rules: [], workflows: [] },
      },
    ],
  };
}

const install = (body: object) => request(api.app).post("/api/v1/packs/install").set(api.auth()).send(body);

async function expectStoredMatches(ref: string) {
  const res = await request(api.app).get(`/api/v1/packs/${ref}/installation`).set(api.auth());
  expect(res.status).toBe(200);
  conform(res);
  const inst = res.body.data;
  // storage_path is the stable path (the store may swap a link there); hash what it points at
  expect(await calculateDirectoryChecksum(fs.realpathSync(inst.storage_path))).toBe(inst.checksum);
  return inst;
}

describe("POST /api/v1/packs/install, each source end to end", () => {
  it("git: 201 with the resolved commit, installed_by from the token; upgrade is 200", async () => {
    const res = await install({ source: `${git.url}/chatops.git`, ref_spec: "v1.0.0" });
    expect(res.status).toBe(201);
    conform(res);
    const { pack, installation } = res.body.data;
    expect(pack).toMatchObject({ ref: "chatops", version: "1.0.0", label: "chatops pack" });
    expect(installation).toMatchObject({
      source_type: "git",
      source_url: `${git.url}/chatops.git`,
      source_ref: "v1.0.0",
      resolved_commit: shas[0],
      installed_by: api.identityId,
      installation_method: "api",
      checksum_verified: false, // nothing to verify against: no index entry, no checksum given
    });
    const stored = await expectStoredMatches("chatops");
    expect(listFiles(fs.realpathSync(stored.storage_path))).toEqual(["actions/a.yaml", "pack.yaml"]);

    const up = await install({ source: `${git.url}/chatops.git`, ref_spec: "v2.0.0" });
    expect(up.status).toBe(200);
    conform(up);
    expect(up.body.data.pack.version).toBe("2.0.0");
    expect(up.body.data.installation.resolved_commit).toBe(shas[1]);
  });

  it("the same version again: 409 without force, 200 with force", async () => {
    const again = await install({ source: `${git.url}/chatops.git`, ref_spec: "v2.0.0" });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe("ECONFLICT");
    conform(again);
    const forced = await install({ source: `${git.url}/chatops.git`, ref_spec: "v2.0.0", force: true });
    expect(forced.status).toBe(200);
    conform(forced);
  });

  it("archive URL: 201, source_type archive", async () => {
    const res = await install({ source: `${http.url}/dl/webhooks-1.2.0.tar.gz` });
    expect(res.status).toBe(201);
    conform(res);
    expect(res.body.data.installation).toMatchObject({
      source_type: "archive",
      checksum: archiveDirChecksum,
    });
    await expectStoredMatches("webhooks");
    const del = await request(api.app).delete("/api/v1/packs/webhooks").set(api.auth());
    expect(del.status).toBe(200);
  });

  it("registry ref: resolved in the index, verified against its checksum", async () => {
    const res = await install({ source: "webhooks@1.2.0" });
    expect(res.status).toBe(201);
    conform(res);
    expect(res.body.data.installation).toMatchObject({
      source_type: "registry",
      checksum: archiveDirChecksum,
      checksum_verified: true,
    });
    await expectStoredMatches("webhooks");
  });

  it("local directory inside ATTUNE_LOCAL_SOURCE_ROOTS: 201", async () => {
    const dir = makePackDir(localRoot, "localdir", "0.1.0");
    const res = await install({ source: dir });
    expect(res.status).toBe(201);
    conform(res);
    expect(res.body.data.installation.source_type).toBe("local_directory");
    await expectStoredMatches("localdir");
  });

  it("local archive inside the roots: 201", async () => {
    const src = makePackDir(path.join(localRoot, "src"), "localtgz", "0.2.0");
    const file = path.join(localRoot, "localtgz.tar.gz");
    makeTarGz(src, file);
    const res = await install({ source: file });
    expect(res.status).toBe(201);
    conform(res);
    expect(res.body.data.installation.source_type).toBe("local_archive");
    await expectStoredMatches("localtgz");
  });
});

describe("install failures", () => {
  it("checksum mismatch: 422 and nothing installed (no row, no files)", async () => {
    const before = fs.readdirSync(api.packsDir).sort();
    const res = await install({
      source: `${git.url}/chatops.git`,
      ref_spec: "v1.0.0",
      force: true,
      checksum: `sha256:${"0".repeat(64)}`,
    });
    expect(res.status).toBe(422);
    expect(res.body.code).toBe("EINTEGRITY");
    conform(res);
    expect(res.body.expected).toBe(`sha256:${"0".repeat(64)}`);
    expect(res.body.actual).toMatch(/^sha256:[0-9a-f]{64}$/);
    // chatops stays at 2.0.0, exactly as before the failed attempt
    const show = await request(api.app).get("/api/v1/packs/chatops").set(api.auth());
    expect(show.body.data.version).toBe("2.0.0");
    expect(fs.readdirSync(api.packsDir).sort()).toEqual(before);

    const fresh = makePackDir(localRoot, "neverthere", "1.0.0");
    const bad = await install({ source: fresh, checksum: `sha256:${"a".repeat(64)}` });
    expect(bad.status).toBe(422);
    expect((await request(api.app).get("/api/v1/packs/neverthere").set(api.auth())).status).toBe(404);
    expect(fs.readdirSync(api.packsDir).filter((n) => n.startsWith("neverthere"))).toEqual([]);
  });

  it("a registry archive whose bytes differ from the index: 422, nothing installed", async () => {
    const res = await install({ source: "tampered" });
    expect(res.status).toBe(422);
    expect(res.body.code).toBe("EINTEGRITY");
    conform(res);
    expect((await request(api.app).get("/api/v1/packs/tampered").set(api.auth())).status).toBe(404);
    expect(fs.readdirSync(api.packsDir).filter((n) => n.startsWith("tampered"))).toEqual([]);
    const history = await request(api.app).get("/api/v1/packs/tampered/history").set(api.auth());
    expect(history.status).toBe(200);
    expect(history.body.data).toEqual([expect.objectContaining({ action: "failed", outcome: "failure" })]);
  });

  it("a pack without pack.yaml is 400 EMANIFEST, and the message reveals no server directory", async () => {
    const dir = path.join(localRoot, "nomanifest");
    fs.mkdirSync(path.join(dir, "actions"), { recursive: true });
    fs.writeFileSync(path.join(dir, "actions/a.yaml"), "name: a\n");
    const res = await install({ source: dir });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("EMANIFEST");
    conform(res);
    const body = JSON.stringify(res.body);
    for (const secret of [api.home, api.packsDir, os.tmpdir() + "/"]) expect(body).not.toContain(secret);
  });

  it("a local path outside the roots is refused naming source, and nothing is read", async () => {
    const outside = makePackDir(api.root, "outside", "1.0.0");
    const res = await install({ source: outside });
    expect([400, 403]).toContain(res.status);
    expect(res.body.errors?.map((e: { field: string }) => e.field)).toContain("source");
    expect(JSON.stringify(res.body)).not.toContain(api.home);
    conform(res);
    expect((await request(api.app).get("/api/v1/packs/outside").set(api.auth())).status).toBe(404);
  });

  it("a symlink inside the roots that points outside them is refused", async () => {
    const outside = makePackDir(api.root, "escapee", "1.0.0");
    const link = path.join(localRoot, "escapee-link");
    fs.symlinkSync(outside, link);
    for (const source of [link, path.join(localRoot, "..", path.basename(api.root), "escapee-1.0.0-src")]) {
      const res = await install({ source });
      expect(res.status).toBe(400);
      expect(["EPOLICY", "ESYMLINK"]).toContain(res.body.code);
      conform(res);
    }
    expect((await request(api.app).get("/api/v1/packs/escapee").set(api.auth())).status).toBe(404);
  });

  it("a missing local path inside the roots is 400 naming source", async () => {
    const res = await install({ source: path.join(localRoot, "does-not-exist") });
    expect(res.status).toBe(400);
    expect(res.body.errors?.map((e: { field: string }) => e.field)).toContain("source");
    conform(res);
  });

  it("an archive URL that 404s is 502 EFETCH", async () => {
    const res = await install({ source: `${http.url}/dl/missing-1.0.0.tar.gz` });
    expect(res.status).toBe(502);
    expect(res.body.code).toBe("EFETCH");
    conform(res);
  });

  it("an unknown git tag is a 4xx/502 problem, never a 500", async () => {
    const res = await install({ source: `${git.url}/chatops.git`, ref_spec: "v9.9.9" });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).not.toBe(500);
    conform(res);
  });

  it("an unknown registry ref is 404", async () => {
    const res = await install({ source: "nosuchpack" });
    expect(res.status).toBe(404);
    expect(res.body.code).toBe("ENOTFOUND");
    conform(res);
  });

  it("a private address not on the allow list is refused by the outbound policy", async () => {
    const res = await install({ source: "http://10.1.2.3/pack.tar.gz" });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("EPOLICY");
    conform(res);
  });
});
