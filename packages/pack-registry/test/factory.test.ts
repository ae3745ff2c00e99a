import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import * as tar from "tar";
import {
  makeBareRepo,
  serveGit,
  serveRoutes,
  tmpDir,
  writeTree,
  type RouteServer,
  type TestServer,
} from "@attune/test-utils";
import { OutboundPolicy } from "../src/policy/outbound-policy";
import { RegistryClient } from "../src/registry-index/client";
import { classifySource, fetchSource } from "../src/sources";
import type { FetchContext } from "../src/sources/types";

async function rejection(
  p: Promise<unknown> | (() => unknown),
): Promise<{ code?: string; details?: Record<string, unknown>; message: string; hint?: string }> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    return e as { code: string; message: string };
  }
  throw new Error("expected a rejection");
}

describe("classifySource", () => {
  it.each([
    ["https://github.com/acme/pack.git", "git"],
    ["https://github.com/acme/pack", "git"],
    ["http://127.0.0.1:8080/repo.git", "git"],
    ["https://dl.example.com/pack-1.0.0.tar.gz?token=x", "archive"],
    ["HTTPS://DL.EXAMPLE.COM/PACK.ZIP", "archive"],
    ["https://dl.example.com/p.tgz", "archive"],
    ["https://dl.example.com/p.tar", "archive"],
    ["demo", "registry"],
    ["demo@1.2.3", "registry"],
    ["demo@^1.2", "registry"],
    ["demo@latest", "registry"],
    ["./demo", "local_directory"],
    ["/srv/packs/demo", "local_directory"],
    ["../demo.tgz", "local_archive"],
    ["demo-1.0.0.tar.gz", "local_archive"],
    ["C.zip", "local_archive"],
  ])("%s -> %s", (source, type) => {
    expect(classifySource({ source })).toBe(type);
  });

  it.each([
    "",
    "   ",
    "ftp://example.com/p.tgz",
    "file:///etc/passwd",
    "git@github.com:acme/pack.git",
    "Not A Pack!",
    "de\u0007mo",
    "https://example.com/a%E0.tgz",
    "https://example.com/%",
  ])("rejects %j with EINVALID_INPUT naming the field and listing accepted forms", async (source) => {
    const e = await rejection(() => classifySource({ source }));
    expect(e.code).toBe("EINVALID_INPUT");
    expect(e.details?.field).toBe("source");
    expect(e.hint).toBeTruthy();
  });

  it.each([
    ["Base", undefined, 'source: "Base" is not a URL, a pack ref or an existing path', "`base`"],
    [
      "BASE@^1.0.0-RC.1",
      undefined,
      'source: "BASE@^1.0.0-RC.1" is not a URL, a pack ref or an existing path',
      "`base@^1.0.0-RC.1`",
    ],
    ["Base", [] as string[], 'source: "Base" is not a URL, a pack ref or an absolute path', "`base`"],
  ])("hints that pack refs are lower-case for %j (local roots %j)", async (source, roots, message, meant) => {
    const e = await rejection(() => classifySource({ source }, roots));
    expect(e).toMatchObject({ code: "EINVALID_INPUT", message, details: { field: "source" } });
    expect(e.hint).toBe(`pack refs are lower-case (^[a-z][a-z0-9_-]+$): did you mean ${meant}?`);
  });

  it("keeps the list of accepted forms for a word that is no ref in any case", async () => {
    const e = await rejection(() => classifySource({ source: "Not A Pack!" }));
    expect(e.hint).toMatch(/^accepted: an https URL/);
  });
});

describe("fetchSource: policy and local roots applied once, in the factory", () => {
  const root = tmpDir("attune-factory-");
  const allowed = path.join(root.dir, "allowed");
  const outside = path.join(root.dir, "outside");
  let web: RouteServer;
  let stage: string;
  let n = 0;
  const newStage = () => {
    stage = path.join(root.dir, `stage-${n++}`);
    fs.mkdirSync(stage);
    return stage;
  };
  const policy = new OutboundPolicy({ allowedPrivateHosts: ["127.0.0.1"] });
  const ctx = (localSourceRoots?: string[]): FetchContext => ({
    policy,
    registries: new RegistryClient({ registries: [], policy }),
    localSourceRoots,
  });

  beforeAll(async () => {
    writeTree(allowed, { "demo/pack.yaml": "ref: demo\nversion: 1.0.0\n" });
    writeTree(outside, { "secret/pack.yaml": "ref: secret\nversion: 1.0.0\n" });
    fs.symlinkSync(path.join(outside, "secret"), path.join(allowed, "escape"));
    web = await serveRoutes();
  });
  afterAll(async () => {
    await web.close();
    root.cleanup();
  });

  it("refuses URLs the policy forbids before any request", async () => {
    for (const source of [
      `${web.url}/repo.git`,
      `${web.url}/p.tar.gz`,
      "https://user:pw@example.com/p.git",
      "https://169.254.169.254/p.tgz",
    ]) {
      const e = await rejection(fetchSource({ source }, newStage(), ctx()));
      expect(e.code).toBe("EPOLICY");
      expect(e.details?.field).toBe("source");
    }
    expect(web.requests).toEqual([]);
  });

  it("validates a git ref before any request", async () => {
    const e = await rejection(
      fetchSource({ source: `${web.url}/repo.git`, ref: "--upload-pack=x" }, newStage(), ctx()),
    );
    expect(e.code).toBe("EINVALID_INPUT");
    expect(e.details?.field).toBe("ref");
  });

  it("refuses a registry version too large for semver, as ref@version or as --ref, saying so", async () => {
    for (const [spec, field] of [
      [{ source: "demo@99999999999999999999.0.0" }, "source"],
      [{ source: "demo", ref: "1.0.9007199254740992" }, "ref"],
    ] as const) {
      const e = await rejection(fetchSource(spec, newStage(), ctx()));
      expect(e.code).toBe("EINVALID_INPUT");
      expect(e.details?.field).toBe(field);
      expect(e.message).toMatch(/has a (major|patch) number that is too large \(at most 9007199254740991\)$/);
    }
  });

  it("refuses a git URL with an npm-style #ref before any request, naming --ref", async () => {
    const e = (await rejection(fetchSource({ source: `${web.url}/repo.git#v1.0.0` }, newStage(), ctx()))) as {
      code?: string;
      details?: Record<string, unknown>;
      hint?: string;
    };
    expect(e.code).toBe("EINVALID_INPUT");
    expect(e.details?.field).toBe("source");
    expect(e.hint).toMatch(/^give the ref separately: --ref v1\.0\.0/);
    expect(web.requests).toEqual([]);
  });

  it("says to drop the #fragment, not to give --ref, when the ref is given as well", async () => {
    const e = (await rejection(
      fetchSource({ source: `${web.url}/repo.git#v1.0.0`, ref: "v2.0.0" }, newStage(), ctx()),
    )) as { code?: string; hint?: string };
    expect(e.code).toBe("EINVALID_INPUT");
    expect(e.hint).toBe(
      `the ref is given separately already (v2.0.0): give the URL without the fragment, ${web.url}/repo.git`,
    );
    expect(web.requests).toEqual([]);
  });

  it("refuses a git URL with a ?query before any request, without repeating its secret", async () => {
    const e = (await rejection(
      fetchSource({ source: `${web.url}/repo.git?token=TOKSECRET`, ref: "v1.0.0" }, newStage(), ctx()),
    )) as { code?: string; message: string; hint?: string };
    expect(e.code).toBe("EINVALID_INPUT");
    expect(e.message).toMatch(/a git URL takes no \?query \("\?token=\*\*\*"\)/);
    expect(e.hint).toContain(`give the URL without the query, ${web.url}/repo.git`);
    expect(JSON.stringify([e.message, e.hint])).not.toContain("TOKSECRET");
    expect(web.requests).toEqual([]);
  });

  it("copies a local directory when no roots are configured (CLI)", async () => {
    const r = await fetchSource({ source: path.join(allowed, "demo") }, newStage(), ctx());
    expect(r.sourceType).toBe("local_directory");
    expect(fs.existsSync(path.join(stage, "pack.yaml"))).toBe(true);
  });

  it("allows local paths only inside the configured roots, links resolved", async () => {
    const ok = await fetchSource({ source: path.join(allowed, "demo") }, newStage(), ctx([allowed]));
    expect(ok.sourceType).toBe("local_directory");
    for (const source of [
      path.join(outside, "secret"),
      path.join(allowed, "escape"),
      path.join(allowed, "..", "outside", "secret"),
    ]) {
      const e = await rejection(fetchSource({ source }, newStage(), ctx([allowed])));
      expect(e.code).toBe("EPOLICY");
      expect(e.details?.field).toBe("source");
      expect(fs.readdirSync(stage)).toEqual([]);
    }
  });

  it("refuses a relative path where roots apply (a server's working directory means nothing to its caller)", async () => {
    const cwd = process.cwd();
    process.chdir(path.dirname(allowed));
    try {
      const e = await rejection(
        fetchSource({ source: `./${path.basename(allowed)}/demo` }, newStage(), ctx([allowed])),
      );
      expect(e).toMatchObject({ code: "EINVALID_INPUT", details: { field: "source" } });
      expect(e.message).toBe(
        `source: local path "./${path.basename(allowed)}/demo" is relative; give the absolute path on the server`,
      );
      expect(fs.readdirSync(stage)).toEqual([]);
    } finally {
      process.chdir(cwd);
    }
  });

  it("a server never looks a bare word up in its working directory, nor shows that directory", async () => {
    const cwd = process.cwd();
    fs.mkdirSync(path.join(allowed, "Here.d"), { recursive: true });
    process.chdir(allowed); // "Here.d" exists here (not a pack ref: no registry lookup)
    try {
      for (const roots of [[allowed], []]) {
        const exists = await rejection(fetchSource({ source: "Here.d" }, newStage(), ctx(roots)));
        const missing = await rejection(fetchSource({ source: "Gone.d" }, newStage(), ctx(roots)));
        expect([exists.code, missing.code]).toEqual(["EINVALID_INPUT", "EINVALID_INPUT"]);
        expect(exists.message).toBe('source: "Here.d" is not a URL, a pack ref or an absolute path');
        expect(exists.message).not.toContain(allowed);
      }
      // with local paths disabled, a relative path is refused without being resolved
      const rel = await rejection(fetchSource({ source: "./demo" }, newStage(), ctx([])));
      expect(rel).toMatchObject({
        code: "EPOLICY",
        message: 'source: local paths are not accepted here ("./demo")',
      });
    } finally {
      process.chdir(cwd);
    }
  });

  it("gives the same answer for existing and missing paths when local paths are disabled (API)", async () => {
    const a = await rejection(fetchSource({ source: path.join(allowed, "demo") }, newStage(), ctx([])));
    const b = await rejection(fetchSource({ source: path.join(allowed, "missing") }, newStage(), ctx([])));
    const c = await rejection(fetchSource({ source: "/etc/passwd.tar.gz" }, newStage(), ctx([])));
    expect([a.code, b.code, c.code]).toEqual(["EPOLICY", "EPOLICY", "EPOLICY"]);
  });

  it("rejects options that do not apply to the source", async () => {
    const r = await rejection(
      fetchSource({ source: `https://example.com/p.git`, registry: "main" }, newStage(), ctx()),
    );
    expect(r.details?.field).toBe("registry");
    const f = await rejection(
      fetchSource({ source: path.join(allowed, "demo"), ref: "v1" }, newStage(), ctx()),
    );
    expect(f.details?.field).toBe("ref");
    const both = await rejection(fetchSource({ source: "demo@1.0.0", ref: "1.0.0" }, newStage(), ctx()));
    expect(both).toMatchObject({ code: "EINVALID_INPUT", details: { field: "ref" } });
    const badSpec = await rejection(fetchSource({ source: "demo@not a range!" }, newStage(), ctx()));
    expect(badSpec.code).toBe("EINVALID_INPUT");
  });
});

describe("fetchSource end to end (git http-backend, archive server)", () => {
  const root = tmpDir("attune-factory-e2e-");
  let git: TestServer;
  let web: RouteServer;
  let sha: string;
  const policy = new OutboundPolicy({ allowHttp: true, allowedPrivateHosts: ["127.0.0.1"] });
  const ctx: FetchContext = { policy, registries: new RegistryClient({ registries: [], policy }) };
  const stage = (name: string) => {
    const d = path.join(root.dir, name);
    fs.mkdirSync(d);
    return d;
  };

  beforeAll(async () => {
    const repos = path.join(root.dir, "repos");
    fs.mkdirSync(repos);
    [sha] = makeBareRepo(repos, "demo", [
      { files: { "pack.yaml": "ref: demo\nversion: 1.0.0\n" }, tag: "v1.0.0" },
    ]);
    git = await serveGit(repos);
    const src = path.join(root.dir, "src");
    writeTree(src, { "pack.yaml": "ref: demo\nversion: 1.0.0\n" });
    const chunks: Buffer[] = [];
    for await (const c of tar.c({ gzip: true, cwd: src, portable: true }, ["pack.yaml"]))
      chunks.push(c as Buffer);
    web = await serveRoutes();
    web.file("/demo.tgz", Buffer.concat(chunks), "application/gzip");
  });
  afterAll(async () => {
    await git.close();
    await web.close();
    root.cleanup();
  });

  it("fetches a git URL with a ref", async () => {
    const d = stage("git");
    const r = await fetchSource({ source: `${git.url}/demo.git`, ref: "v1.0.0" }, d, ctx);
    expect(r).toMatchObject({
      sourceType: "git",
      sourceUrl: `${git.url}/demo.git`,
      sourceRef: "v1.0.0",
      resolvedCommit: sha,
    });
    expect(fs.readdirSync(d)).toEqual(["pack.yaml"]);
  });

  it("fetches an archive URL", async () => {
    const d = stage("archive");
    const r = await fetchSource({ source: `${web.url}/demo.tgz` }, d, ctx);
    expect(r.sourceType).toBe("archive");
    expect(r.archiveChecksum).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(fs.readdirSync(d)).toEqual(["pack.yaml"]);
  });
});
