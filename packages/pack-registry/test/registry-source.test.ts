import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import * as tar from "tar";
import {
  makeBareRepo,
  serveGit,
  serveRoutes,
  tmpDir,
  writeTree,
  type GitTestServer,
  type RouteServer,
} from "@attune/test-utils";
import { OutboundPolicy } from "../src/policy/outbound-policy";
import { RegistryClient } from "../src/registry-index/client";
import { fetchSource } from "../src/sources";
import type { FetchContext } from "../src/sources/types";
import { entry } from "./index-fixtures";

async function rejection(p: Promise<unknown>): Promise<{
  code?: string;
  details?: Record<string, unknown>;
  message: string;
  expected?: string;
  found?: string;
}> {
  try {
    await p;
  } catch (e) {
    return e as { code: string; message: string };
  }
  throw new Error("expected a rejection");
}

describe("registry source (index + git http-backend + archive server)", () => {
  const root = tmpDir("attune-regsrc-");
  let git: GitTestServer;
  let web: RouteServer;
  let other: RouteServer;
  let ctx: FetchContext;
  let sha: string;
  let tgzSum: string;
  let stage: string;
  let n = 0;
  const newStage = () => {
    stage = path.join(root.dir, `stage-${n++}`);
    fs.mkdirSync(stage);
    return stage;
  };
  const DIR_SUM = `sha256:${"d".repeat(64)}`;

  beforeAll(async () => {
    const repos = path.join(root.dir, "repos");
    fs.mkdirSync(repos);
    [sha] = makeBareRepo(repos, "demo", [
      { files: { "pack.yaml": "ref: demo\nversion: 1.0.0\n" }, tag: "v1.0.0" },
    ]);
    git = await serveGit(repos);
    const src = path.join(root.dir, "src");
    writeTree(src, { "demo/pack.yaml": "ref: demo\nversion: 1.0.0\n" });
    const file = path.join(root.dir, "demo.tar.gz");
    await tar.c({ gzip: true, cwd: src, file, portable: true }, ["demo"]);
    const tgz = fs.readFileSync(file);
    tgzSum = `sha256:${createHash("sha256").update(tgz).digest("hex")}`;
    web = await serveRoutes();
    web.file("/demo-1.0.0.tar.gz", tgz, "application/gzip");
    web.file("/demo-1.0.0.zip", tgz, "application/zip");
    const gitOk = { type: "git", url: `${git.url}/demo.git`, ref: "v1.0.0", checksum: DIR_SUM };
    const gitBad = { type: "git", url: `${git.url}/demo.git`, ref: "v9.9.9", checksum: DIR_SUM };
    const archive = (checksum: string, p = "/demo-1.0.0.tar.gz") => ({
      type: "archive",
      url: `${web.url}${p}`,
      checksum,
    });
    const idx = {
      registry_name: "test",
      registry_url: web.url,
      version: "1.0",
      last_updated: "2026-01-01T00:00:00Z",
      packs: [
        entry({ ref: "demo", install_sources: [archive(tgzSum), gitOk] }),
        entry({ ref: "fallback", install_sources: [gitBad, archive(tgzSum)] }),
        entry({ ref: "tampered", install_sources: [gitBad, archive(`sha256:${"0".repeat(64)}`)] }),
        entry({ ref: "dead", install_sources: [gitBad, archive(tgzSum, "/gone.tar.gz")] }),
        // a tar.gz published under a .zip name
        entry({ ref: "mislabeled", install_sources: [archive(tgzSum, "/demo-1.0.0.zip")] }),
        // git repositories that want credentials
        ...[401, 403].map((status) =>
          entry({
            ref: `locked-${status}`,
            install_sources: [
              { type: "git", url: `${web.url}/locked-${status}.git`, ref: "v1.0.0", checksum: DIR_SUM },
            ],
          }),
        ),
        entry({
          ref: "forbidden",
          install_sources: [
            { type: "archive", url: "http://169.254.169.254/latest/p.tar.gz", checksum: tgzSum },
            // a private address (credentials in URLs are refused earlier, when the index is read)
            { type: "archive", url: "http://192.168.0.1/demo-1.0.0.tar.gz", checksum: tgzSum },
          ],
        }),
      ],
    };
    web.file("/index.json", JSON.stringify(idx), "application/json");
    for (const status of [401, 403])
      web.route(`/locked-${status}.git/info/refs`, (_q, r) => void r.writeHead(status).end());
    other = await serveRoutes();
    other.file("/demo-1.0.0.tar.gz", tgz, "application/gzip");
    web.route("/private.json", (q, r) => {
      if (q.headers.authorization !== "Bearer reg-token") return void r.writeHead(401).end();
      r.writeHead(200, { "content-type": "application/json" });
      r.end(
        JSON.stringify({
          ...idx,
          packs: [
            entry({ ref: "private", install_sources: [archive(tgzSum, "/private.tar.gz")] }),
            entry({
              ref: "elsewhere",
              install_sources: [{ type: "archive", url: `${other.url}/demo-1.0.0.tar.gz`, checksum: tgzSum }],
            }),
          ],
        }),
      );
    });
    web.route("/private.tar.gz", (q, r) => {
      if (q.headers.authorization !== "Bearer reg-token") return void r.writeHead(401).end();
      r.writeHead(200, { "content-type": "application/gzip" });
      r.end(tgz);
    });
    const policy = new OutboundPolicy({ allowHttp: true, allowedPrivateHosts: ["127.0.0.1"] });
    ctx = {
      policy,
      registries: new RegistryClient({
        registries: [{ name: "test", url: `${web.url}/index.json`, priority: 1, enabled: true }],
        policy,
      }),
    };
  });
  afterAll(async () => {
    await git.close();
    await web.close();
    await other.close();
    root.cleanup();
  });

  it("uses the git source first and promises the index's directory checksum", async () => {
    const r = await fetchSource({ source: "demo@1.0.0" }, newStage(), ctx);
    expect(r).toMatchObject({
      sourceType: "registry",
      sourceUrl: `${git.url}/demo.git`,
      sourceRef: "v1.0.0",
      resolvedCommit: sha,
      expectedChecksum: DIR_SUM,
      archiveChecksum: null,
      registryName: "test",
      details: { installSource: "git", version: "1.0.0", failedAttempts: [] },
    });
    expect((r.registryEntry as { ref: string }).ref).toBe("demo");
    expect(fs.existsSync(path.join(stage, "pack.yaml"))).toBe(true);
  });

  it("falls back to the archive, verifies its bytes, and records why git failed", async () => {
    const r = await fetchSource({ source: "fallback" }, newStage(), ctx);
    expect(r).toMatchObject({
      sourceType: "registry",
      archiveChecksum: tgzSum,
      expectedChecksum: null,
      details: { installSource: "archive" },
    });
    const failed = (r.details as { failedAttempts: Array<{ type: string; code: string }> }).failedAttempts;
    expect(failed).toEqual([expect.objectContaining({ type: "git", code: "ENOTFOUND" })]);
    expect(fs.existsSync(path.join(stage, "demo/pack.yaml"))).toBe(true);
  });

  it("aborts with EINTEGRITY (expected and found) when the archive bytes differ from the index", async () => {
    const e = await rejection(fetchSource({ source: "tampered" }, newStage(), ctx));
    expect(e).toMatchObject({ code: "EINTEGRITY", expected: `sha256:${"0".repeat(64)}`, found: tgzSum });
    expect(fs.readdirSync(stage)).toEqual([]);
    // the registry's checksum, not the caller's: named as such, with the registry and the URL, and
    // without details.field "checksum" (the request's field: the API would blame it)
    const url = `${web.url}/demo-1.0.0.tar.gz`;
    expect(e.message).toBe(
      `checksum mismatch: expected sha256:${"0".repeat(64)}, found archive checksum ${tgzSum} (of the bytes downloaded from ${url})`,
    );
    expect((e as { hint?: string }).hint).toBe(
      `the archive does not match the checksum its registry (test) publishes for ${url}; do not trust it`,
    );
    expect(e.details).toMatchObject({
      field: "registry checksum",
      checksumKind: "archive",
      registry: "test",
      version: "1.0.0",
      installSource: "archive",
      url,
    });
  });

  it("tries first the install sources that publish a pinned checksum (stable order otherwise)", async () => {
    // demo lists its archive, then git: git goes first without a pin
    const archive = { sourceUrl: `${web.url}/demo-1.0.0.tar.gz`, details: { installSource: "archive" } };
    const viaGit = { sourceUrl: `${git.url}/demo.git`, details: { installSource: "git" } };
    expect(await fetchSource({ source: "demo@1.0.0", checksum: tgzSum }, newStage(), ctx)).toMatchObject(
      archive,
    );
    // a pin is compared in any case, as the installer compares it
    const upper = tgzSum.replace(/[a-f]/g, (c) => c.toUpperCase());
    expect(await fetchSource({ source: "demo@1.0.0", checksum: upper }, newStage(), ctx)).toMatchObject(
      archive,
    );
    expect(await fetchSource({ source: "demo@1.0.0", checksum: DIR_SUM }, newStage(), ctx)).toMatchObject(
      viaGit,
    );
    const none = `sha256:${"7".repeat(64)}`;
    expect(await fetchSource({ source: "demo@1.0.0", checksum: none }, newStage(), ctx)).toMatchObject(
      viaGit,
    );
    expect(await fetchSource({ source: "demo@1.0.0" }, newStage(), ctx)).toMatchObject(viaGit);
    // a pinned source that fails still falls back to the others (the installer then compares)
    const fb = await fetchSource({ source: "fallback", checksum: DIR_SUM }, newStage(), ctx);
    expect(fb).toMatchObject({ details: { installSource: "archive" } });
    expect((fb.details as { failedAttempts: unknown[] }).failedAttempts).toEqual([
      expect.objectContaining({ type: "git", code: "ENOTFOUND" }),
    ]);
  });

  it("fails with EFETCH listing every attempt when all sources fail", async () => {
    const e = await rejection(fetchSource({ source: "dead" }, newStage(), ctx));
    expect(e.code).toBe("EFETCH");
    expect((e.details?.attempts as unknown[]).length).toBe(2);
    expect(e.message).toMatch(/git .*v9\.9\.9|archive .*gone/);
    expect(fs.readdirSync(stage)).toEqual([]);
  });

  it("keeps the code and hint of a content problem (a mislabeled archive), instead of calling it a network failure", async () => {
    const e = (await rejection(fetchSource({ source: "mislabeled" }, newStage(), ctx))) as Awaited<
      ReturnType<typeof rejection>
    > & { hint?: string };
    expect(e.code).toBe("EUNSAFE_ARCHIVE");
    expect(e.message).toMatch(/demo-1\.0\.0\.zip is named like a zip archive but its bytes are tar\.gz/);
    expect(e.hint).toBe("rename the file to match its content, or rebuild it");
    expect(fs.readdirSync(stage)).toEqual([]);
  });

  it("stays EPOLICY when every source is refused by the outbound policy (not a network failure)", async () => {
    const e = await rejection(fetchSource({ source: "forbidden" }, newStage(), ctx));
    expect(e.code).toBe("EPOLICY");
    expect((e.details?.attempts as Array<{ code: string }>).map((a) => a.code)).toEqual([
      "EPOLICY",
      "EPOLICY",
    ]);
    expect(web.requests.some((r) => r.path === "/latest/p.tar.gz")).toBe(false);
    expect(fs.readdirSync(stage)).toEqual([]);
  });

  it("reports an unknown pack or version as ENOTFOUND", async () => {
    expect((await rejection(fetchSource({ source: "nothere" }, newStage(), ctx))).code).toBe("ENOTFOUND");
    expect((await rejection(fetchSource({ source: "demo@2.0.0" }, newStage(), ctx))).code).toBe("ENOTFOUND");
    expect((await rejection(fetchSource({ source: "demo", registry: "other" }, newStage(), ctx))).code).toBe(
      "ENOTFOUND",
    );
  });

  it("sends User-Agent attune/<version> to the index, git and archive servers, unless a registry's headers set one", async () => {
    const { version } = JSON.parse(
      fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "package.json"), "utf8"),
    ) as { version: string };
    const ua = `attune/${version}`;
    const [w, g, o] = [web.requests.length, git.requests.length, other.requests.length];
    // a fresh client: the index is read again. "fallback" tries git, then the archive
    const fresh = {
      ...ctx,
      registries: new RegistryClient({ registries: ctx.registries.list(), policy: ctx.policy }),
    };
    const r = await fetchSource({ source: "fallback" }, newStage(), fresh);
    expect(r.details).toMatchObject({ installSource: "archive" });
    const seen = [...web.requests.slice(w), ...git.requests.slice(g)];
    expect(seen.map((q) => q.path)).toEqual(
      expect.arrayContaining(["/index.json", "/demo.git/info/refs", "/demo-1.0.0.tar.gz"]),
    );
    for (const q of seen) expect(q.headers["user-agent"]).toBe(ua);
    // a registry's own User-Agent wins, on its origin; elsewhere, the default one
    const regs = new RegistryClient({
      registries: [
        {
          name: "priv",
          url: `${web.url}/private.json`,
          priority: 1,
          enabled: true,
          headers: { authorization: "Bearer reg-token", "User-Agent": "corp-fetcher/2.0" },
        },
      ],
      policy: ctx.policy,
    });
    const w2 = web.requests.length;
    await fetchSource({ source: "private" }, newStage(), { ...ctx, registries: regs });
    await fetchSource({ source: "elsewhere" }, newStage(), { ...ctx, registries: regs });
    const mine = web.requests.slice(w2);
    expect(mine.map((q) => q.path)).toEqual(expect.arrayContaining(["/private.json", "/private.tar.gz"]));
    for (const q of mine) expect(q.headers["user-agent"]).toBe("corp-fetcher/2.0");
    expect(other.requests.slice(o).at(-1)!.headers["user-agent"]).toBe(ua);
  });

  it("sends a private registry's headers to downloads on its own origin only", async () => {
    const regs = new RegistryClient({
      registries: [
        {
          name: "priv",
          url: `${web.url}/private.json`,
          priority: 1,
          enabled: true,
          headers: { authorization: "Bearer reg-token" },
        },
      ],
      policy: ctx.policy,
    });
    const pctx = { ...ctx, registries: regs };
    expect((await fetchSource({ source: "private" }, newStage(), pctx)).archiveChecksum).toBe(tgzSum);
    await fetchSource({ source: "elsewhere" }, newStage(), pctx);
    expect(other.requests.at(-1)!.headers.authorization).toBeUndefined();
  });

  it.each([401, 403])("hints at the registry's headers when its git source answers %d", async (status) => {
    const e = (await rejection(fetchSource({ source: `locked-${status}` }, newStage(), ctx))) as Awaited<
      ReturnType<typeof rejection>
    > & { hint?: string };
    expect(e.code).toBe("EFETCH");
    expect((e.details?.attempts as Array<{ type: string }>).map((a) => a.type)).toEqual(["git"]);
    expect(e.message).toContain(`git ${web.url}/locked-${status}.git`);
    expect(e.message).toContain(`HTTP Error: ${status}`);
    expect(e.hint).toBe(
      'the server wants credentials: configure headers for registry "test" in config.yaml (registries[].headers)',
    );
    expect(fs.readdirSync(stage)).toEqual([]);
  });

  it("accepts the version as spec.ref for a registry source", async () => {
    const r = await fetchSource({ source: "demo", ref: "^1.0.0" }, newStage(), ctx);
    expect(r.details).toMatchObject({ version: "1.0.0" });
  });
});
