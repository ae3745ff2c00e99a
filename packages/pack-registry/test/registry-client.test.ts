import { gzipSync } from "node:zlib";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { serveRoutes, tmpDir, type RouteServer } from "@attune/test-utils";
import type { RegistryConfig } from "../src/config/types";
import { OutboundPolicy } from "../src/policy/outbound-policy";
import { RegistryClient } from "../src/registry-index/client";
import { entry } from "./index-fixtures";

const policy = new OutboundPolicy({ allowHttp: true, allowedPrivateHosts: ["127.0.0.1", "localhost"] });
const index = (name: string, packs: unknown[]) => ({
  registry_name: name,
  registry_url: "https://example.com",
  version: "1.0",
  last_updated: "2026-01-01T00:00:00Z",
  packs,
});

async function rejection(
  p: Promise<unknown>,
): Promise<{ code?: string; details?: Record<string, unknown>; message: string }> {
  try {
    await p;
  } catch (e) {
    return e as { code: string; message: string };
  }
  throw new Error("expected a rejection");
}

describe("RegistryClient (real HTTP server)", () => {
  const root = tmpDir("attune-reg-");
  let srv: RouteServer;
  let other: RouteServer;
  const bodies: Record<string, { status: number; body: string }> = {};
  const hits = (p: string) => srv.requests.filter((r) => r.path === p).length;
  let clock = new Date("2026-06-01T00:00:00Z");
  const now = () => clock;

  beforeAll(async () => {
    srv = await serveRoutes();
    other = await serveRoutes();
    const serve = (p: string, json: unknown) => {
      bodies[p] = { status: 200, body: JSON.stringify(json) };
      srv.route(p, (_q, r) => {
        r.writeHead(bodies[p].status, { "content-type": "application/json" });
        r.end(bodies[p].body);
      });
    };
    serve(
      "/first.json",
      index("first", [
        entry({ ref: "shared", label: "Shared from first" }),
        entry({ ref: "alpha", description: "Talks to the SLACK api", keywords: ["chat"] }),
      ]),
    );
    serve(
      "/second.json",
      index("second", [
        entry({ ref: "shared", label: "Shared from second" }),
        entry({ ref: "beta", version: "1.0.0", keywords: ["legacy"] }),
        entry({ ref: "beta", version: "1.4.2" }),
        entry({ ref: "beta", version: "2.0.0" }),
        entry({ ref: "beta", version: "3.0.0-rc.1" }),
        entry({ ref: "gamma", version: "0.1.0-beta.1" }),
      ]),
    );
    serve("/broken.json", { not: "an index" });
    srv.route("/down.json", (_q, r) => {
      r.writeHead(500);
      r.end("boom");
    });
    srv.route("/huge.json", (_q, r) => {
      r.writeHead(200, { "content-length": String(17 * 1024 * 1024) });
      r.end();
    });
    srv.route("/moved.json", (_q, r) => {
      r.writeHead(302, { location: `http://localhost:${other.port}/first.json` });
      r.end();
    });
    other.file("/first.json", bodies["/first.json"].body, "application/json");
  });
  afterAll(async () => {
    await srv.close();
    await other.close();
    root.cleanup();
  });

  const reg = (
    name: string,
    p: string,
    priority: number,
    extra: Partial<RegistryConfig> = {},
  ): RegistryConfig => ({
    name,
    url: `${srv.url}${p}`,
    priority,
    enabled: true,
    ...extra,
  });
  const client = (regs: RegistryConfig[], cacheDir?: string) =>
    new RegistryClient({ registries: regs, policy, cacheDir, now, ttlSeconds: 60 });

  it("lists registries by priority", () => {
    const c = client([
      reg("second", "/second.json", 20),
      reg("first", "/first.json", 10, { enabled: false }),
    ]);
    expect(c.list().map((r) => r.name)).toEqual(["first", "second"]);
  });

  it("searches ref, label, description and keywords case-insensitively, one result per ref with its versions", async () => {
    const c = client([reg("first", "/first.json", 1), reg("second", "/second.json", 2)]);
    expect((await c.search("slack")).map((r) => r.ref)).toEqual(["alpha"]);
    expect((await c.search("CHAT")).map((r) => r.ref)).toEqual(["alpha"]);
    expect((await c.search("shared from SECOND")).map((r) => r.registry)).toEqual(["second"]);
    const beta = (await c.search("beta")).find((r) => r.ref === "beta")!;
    expect(beta).toMatchObject({
      version: "2.0.0",
      registry: "second",
      versions: ["3.0.0-rc.1", "2.0.0", "1.4.2", "1.0.0"],
    });
    // a match in an older version only: the ref is found, shown at its latest, with every version
    expect(await c.search("LEGACY")).toEqual([
      expect.objectContaining({
        ref: "beta",
        version: "2.0.0",
        keywords: [],
        versions: ["3.0.0-rc.1", "2.0.0", "1.4.2", "1.0.0"],
      }),
    ]);
    expect(await c.search("nothing-like-this")).toEqual([]);
  });

  it.each([
    [undefined, "2.0.0"],
    ["latest", "2.0.0"],
    ["1.4.2", "1.4.2"],
    ["^1.0", "1.4.2"],
    [">=3.0.0-0", "3.0.0-rc.1"],
  ])("resolves beta@%s to %s", async (spec, version) => {
    const c = client([reg("second", "/second.json", 1)]);
    const r = await c.resolve("beta", spec);
    expect(r.entry.version).toBe(version);
    expect(r.registry.name).toBe("second");
  });

  it("resolves latest to a prerelease when there is nothing else", async () => {
    expect((await client([reg("second", "/second.json", 1)]).resolve("gamma")).entry.version).toBe(
      "0.1.0-beta.1",
    );
  });

  it("an exact version with build metadata is that entry, not another build of the same version", async () => {
    srv.route("/builds.json", (_q, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify(
          index("builds", [
            entry({ ref: "bm", version: "1.0.0+b1" }),
            entry({ ref: "bm", version: "1.0.0+b2" }),
            entry({ ref: "bm", version: "1.0.0" }),
          ]),
        ),
      );
    });
    const c = client([reg("builds", "/builds.json", 1)]);
    for (const v of ["1.0.0+b1", "1.0.0+b2", "1.0.0"])
      expect((await c.resolve("bm", v)).entry.version).toBe(v);
    expect((await rejection(c.resolve("bm", "1.0.0+b3"))).code).toBe("ENOTFOUND");
  });

  it.each([
    ["b1 first", ["1.0.0+b1", "1.0.0+b2", "0.9.0"]],
    ["b2 first", ["1.0.0+b2", "0.9.0", "1.0.0+b1"]],
  ])(
    "orders builds of one version by their build metadata, whatever the index's order (%s)",
    async (name, order) => {
      const p = `/builds-${name.replace(" ", "-")}.json`;
      srv.route(p, (_q, res) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(
          JSON.stringify(
            index(
              "builds",
              order.map((version) => entry({ ref: "bm", version })),
            ),
          ),
        );
      });
      const c = client([reg("builds", p, 1)]);
      // the installer's order (compareBuild): 1.0.0+b2 is the newest, so latest is never a downgrade
      for (const spec of [undefined, "latest", "^1", "1.x", ">=0.9.0", "1.0.0 || 0.9.0"])
        expect((await c.resolve("bm", spec)).entry.version).toBe("1.0.0+b2");
      expect((await c.resolve("bm", "~0.9")).entry.version).toBe("0.9.0");
      expect((await c.resolve("bm", "1.0.0+b1")).entry.version).toBe("1.0.0+b1");
      // without build metadata, an exact version the index has only builds of is its newest build,
      // as semver (and so the dependency check) reads 1.0.0; =1.0.0 agreed already
      for (const spec of ["1.0.0", "=1.0.0"])
        expect((await c.resolve("bm", spec)).entry.version).toBe("1.0.0+b2");
      expect((await c.resolve("bm", "0.9.0")).entry.version).toBe("0.9.0");
      expect((await rejection(c.resolve("bm", "1.0.1"))).code).toBe("ENOTFOUND");
      const [found] = await c.search("bm");
      expect(found).toMatchObject({ version: "1.0.0+b2", versions: ["1.0.0+b2", "1.0.0+b1", "0.9.0"] });
    },
  );

  it("takes the first registry by priority that holds the ref", async () => {
    const c = client([reg("second", "/second.json", 5), reg("first", "/first.json", 1)]);
    expect((await c.resolve("shared")).entry.label).toBe("Shared from first");
    expect((await c.resolve("beta")).registry.name).toBe("second");
    expect((await c.resolve("shared", undefined, { registry: "second" })).entry.label).toBe(
      "Shared from second",
    );
  });

  it("fails closed when a higher-priority registry cannot be read", async () => {
    for (const bad of ["/down.json", "/broken.json", "/huge.json"]) {
      const c = client([reg("bad", bad, 1), reg("second", "/second.json", 2)]);
      const e = await rejection(c.resolve("beta"));
      expect(["EFETCH", "EINDEX", "ETOO_LARGE"]).toContain(e.code);
      expect(e.message).toContain('registry "bad"');
      expect(e.details?.registry).toBe("bad");
    }
    const disabled = client([
      reg("bad", "/down.json", 1, { enabled: false }),
      reg("second", "/second.json", 2),
    ]);
    expect((await disabled.resolve("beta")).registry.name).toBe("second");
  });

  it("says how to enable a disabled registry asked for by name, or which to pick instead", async () => {
    const off = reg("off", "/first.json", 1, { enabled: false });
    const c = client([off, reg("second", "/second.json", 2), reg("first", "/first.json", 3)]);
    for (const p of [
      c.resolve("alpha", undefined, { registry: "off" }),
      c.search("alpha", { registry: "off" }),
    ])
      expect(await rejection(p)).toMatchObject({
        code: "ECONFIG",
        message: 'registry "off" is disabled',
        hint: "enable it with `enabled: true` in its entry of config.yaml's registries, or pick an enabled one (second, first)",
        details: { field: "registry", enabled: ["second", "first"] },
      });
    expect(await rejection(client([off]).resolve("alpha", undefined, { registry: "off" }))).toMatchObject({
      hint: "enable it with `enabled: true` in its entry of config.yaml's registries, or add another with `attune registry add <name> <url>`",
    });
  });

  it("reports unknown refs, versions and registries", async () => {
    const c = client([reg("first", "/first.json", 1), reg("second", "/second.json", 2)]);
    const e = await rejection(c.resolve("nope"));
    expect(e).toMatchObject({ code: "ENOTFOUND" });
    expect(e.message).toContain("first, second");
    const v = await rejection(c.resolve("beta", "^9"));
    expect(v.code).toBe("ENOTFOUND");
    expect(v.message).toContain("1.4.2");
    expect((await rejection(c.resolve("beta", "not a range!"))).code).toBe("EINVALID_INPUT");
    expect(await rejection(c.resolve("beta", "99999999999999999999.0.0"))).toMatchObject({
      code: "EINVALID_INPUT",
      message:
        'version: "99999999999999999999.0.0" has a major number that is too large (at most 9007199254740991)',
    });
    expect((await rejection(c.resolve("beta", undefined, { registry: "zzz" }))).code).toBe("ENOTFOUND");
    expect((await rejection(client([]).resolve("beta"))).code).toBe("ENOTFOUND");
  });

  it("sends a registry's headers to its own origin only", async () => {
    const headers = { authorization: "Bearer registry-token" };
    await client([reg("first", "/first.json", 1, { headers })]).resolve("alpha");
    expect(srv.requests.filter((r) => r.path === "/first.json").at(-1)!.headers.authorization).toBe(
      "Bearer registry-token",
    );
    await client([reg("moved", "/moved.json", 1, { headers })]).resolve("alpha");
    expect(other.requests.at(-1)!.headers.authorization).toBeUndefined();
  });

  it("caches within the TTL (memory, then disk), refetches after it or on refresh", async () => {
    const cacheDir = path.join(root.dir, "cache");
    const c = client([reg("first", "/first.json", 1)], cacheDir);
    const before = hits("/first.json");
    await c.resolve("alpha");
    await c.resolve("alpha");
    expect(hits("/first.json")).toBe(before + 1);
    const copy = JSON.parse(fs.readFileSync(path.join(cacheDir, "first.json"), "utf8"));
    expect(copy).toMatchObject({ format: 1, registry: "first", fetched_at: clock.toISOString() });
    expect(fs.statSync(path.join(cacheDir, "first.json")).mode & 0o777).toBe(0o600);
    await client([reg("first", "/first.json", 1)], cacheDir).search("alpha"); // a new process: disk copy
    expect(hits("/first.json")).toBe(before + 1);
    await c.resolve("alpha", undefined, { refresh: true });
    expect(hits("/first.json")).toBe(before + 2);
    clock = new Date(clock.getTime() + 61_000);
    await c.resolve("alpha");
    expect(hits("/first.json")).toBe(before + 3);
  });

  it("reads a cached index again before saying a ref or version is missing (a version just published)", async () => {
    const cacheDir = path.join(root.dir, "cache-publish");
    let packs = [entry({ ref: "fresh", version: "1.0.0" })];
    srv.route("/publish.json", (_q, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(index("publish", packs)));
    });
    const regs = [reg("publish", "/publish.json", 1), reg("second", "/second.json", 2)];
    const c = client(regs, cacheDir);
    const served = () => hits("/publish.json");
    expect((await c.resolve("fresh")).entry.version).toBe("1.0.0");
    const start = served();
    // within the TTL a hit is answered from the cache
    expect((await c.resolve("fresh", "1.0.0")).entry.version).toBe("1.0.0");
    expect(served()).toBe(start);
    // 1.1.0 is published: the cached copy lacks it, so the index is read again once, and it is found
    packs = [...packs, entry({ ref: "fresh", version: "1.1.0" })];
    expect((await c.resolve("fresh", "1.1.0")).entry.version).toBe("1.1.0");
    expect(served()).toBe(start + 1);
    // ... by another process too (the disk copy is refreshed with it)
    expect((await client(regs, cacheDir).resolve("fresh", "^1.1")).entry.version).toBe("1.1.0");
    expect(served()).toBe(start + 1);
    // a new ref likewise; a lower-priority registry's copy is not what decides
    packs = [...packs, entry({ ref: "newcomer" })];
    expect((await c.resolve("newcomer")).registry.name).toBe("publish");
    expect(served()).toBe(start + 2);
    // a version that really is missing: one re-read, then the answer names what the registry has
    const e = await rejection(c.resolve("fresh", "9.9.9"));
    expect(e.message).toBe(
      'pack "fresh": registry "publish" has no version matching 9.9.9 (has 1.0.0, 1.1.0)',
    );
    expect(served()).toBe(start + 3);
    // "latest" within the TTL is the cached latest; refresh reads the index first
    packs = [...packs, entry({ ref: "fresh", version: "1.2.0" })];
    expect((await c.resolve("fresh")).entry.version).toBe("1.1.0");
    expect((await c.resolve("fresh", undefined, { refresh: true })).entry.version).toBe("1.2.0");
  });

  it("searches offline with a stale copy and says how old it is, but never resolves from it", async () => {
    const cacheDir = path.join(root.dir, "cache-offline");
    const r = reg("flaky", "/flaky.json", 1);
    let up = true;
    srv.route("/flaky.json", (_q, res) => {
      res.writeHead(up ? 200 : 503, { "content-type": "application/json" });
      res.end(up ? bodies["/first.json"].body : "down");
    });
    await client([r], cacheDir).search("alpha");
    up = false;
    clock = new Date(clock.getTime() + 3600_000);
    const offline = await client([r], cacheDir).searchDetailed("alpha");
    expect(offline.results.map((x) => x.ref)).toEqual(["alpha"]);
    expect(offline.registries[0]).toMatchObject({ registry: "flaky", status: "stale", ageSeconds: 3600 });
    expect(offline.registries[0].error?.code).toBe("EFETCH");
    expect((await rejection(client([r], cacheDir).resolve("alpha"))).code).toBe("EFETCH");
    const none = await client([reg("down", "/down.json", 1)], cacheDir).searchDetailed("x");
    expect(none.registries[0]).toMatchObject({ status: "error", ageSeconds: null });
  });

  it("never uses a copy (fresh or stale) of a registry this client's policy refuses to fetch", async () => {
    const cacheDir = path.join(root.dir, "cache-policy");
    const r = reg("plain", "/first.json", 1);
    // fetched by a process allowed plain http to loopback (the shared home's cache)
    expect((await client([r], cacheDir).search("alpha")).map((x) => x.ref)).toEqual(["alpha"]);
    const served = srv.requests.length;
    for (const strict of [
      OutboundPolicy.fromConfig({}, {}), // no plain http, no loopback
      OutboundPolicy.fromConfig({ allow_http: true }, {}), // plain http, but no loopback
    ]) {
      const c = new RegistryClient({ registries: [r], policy: strict, cacheDir, now, ttlSeconds: 60 });
      const found = await c.searchDetailed("alpha");
      expect(found.results).toEqual([]);
      expect(found.registries).toEqual([
        expect.objectContaining({ registry: "plain", status: "error", fetchedAt: null }),
      ]);
      const err = found.registries[0].error!;
      expect(err.code).toBe("EPOLICY");
      expect(err.message).toMatch(/^registry "plain" \(.*\) cannot be read: /);
      expect(err.hint).toBeTruthy();
      expect((await rejection(c.resolve("alpha"))).code).toBe("EPOLICY");
    }
    // refused before any request: the server was not asked again
    expect(srv.requests.length).toBe(served);
  });

  it("treats a copy dated in the future (beyond 60 s of clock skew) as expired, of unknown age", async () => {
    const cacheDir = path.join(root.dir, "cache-future");
    let t = new Date("2026-07-01T00:00:00Z");
    const at = () => t;
    const mk = (r: RegistryConfig) =>
      new RegistryClient({ registries: [r], policy, cacheDir, now: at, ttlSeconds: 300 });
    let up = true;
    srv.route("/future.json", (_q, res) => {
      res.writeHead(up ? 200 : 503, { "content-type": "application/json" });
      res.end(up ? bodies["/first.json"].body : "down");
    });
    const r = reg("future", "/future.json", 1);
    const served = () => hits("/future.json");
    const file = path.join(cacheDir, "future.json");
    const dateCopy = (d: Date) => {
      const doc = JSON.parse(fs.readFileSync(file, "utf8"));
      doc.fetched_at = d.toISOString();
      fs.writeFileSync(file, JSON.stringify(doc));
    };
    await mk(r).search("alpha");
    const start = served();
    // a copy one day ahead (another machine's clock, a hand-edited file) is read again, not used forever
    dateCopy(new Date(t.getTime() + 86_400_000));
    const ahead = await mk(r).searchDetailed("alpha");
    expect(ahead.registries[0]).toMatchObject({ status: "fresh", ageSeconds: 0 });
    expect(served()).toBe(start + 1);
    // within the skew it is a copy made "now": used, 0 s old
    dateCopy(new Date(t.getTime() + 30_000));
    const skewed = await mk(r).searchDetailed("alpha");
    expect(skewed.registries[0]).toMatchObject({ status: "cached", ageSeconds: 0 });
    expect(served()).toBe(start + 1);
    // offline, a future copy still serves a search, reported of unknown age (not 0 s old)
    dateCopy(new Date(t.getTime() + 86_400_000));
    up = false;
    const offline = await mk(r).searchDetailed("alpha");
    expect(offline.results.map((x) => x.ref)).toEqual(["alpha"]);
    expect(offline.registries[0]).toMatchObject({
      status: "stale",
      ageSeconds: null,
      fetchedAt: new Date(t.getTime() + 86_400_000).toISOString(),
    });
    expect((await rejection(mk(r).resolve("alpha"))).code).toBe("EFETCH");
    // a clock set back an hour: the copy in memory, now dated in the future, expires too
    up = true;
    const c = mk(r);
    await c.resolve("alpha", undefined, { refresh: true });
    const before = served();
    await c.resolve("alpha");
    expect(served()).toBe(before);
    t = new Date(t.getTime() - 3_600_000);
    await c.resolve("alpha");
    expect(served()).toBe(before + 1);
  });

  it("never turns an unvalidated registry name into a cache path", async () => {
    const cacheDir = path.join(root.dir, "cache-names", "inner");
    await client([reg("../escape", "/first.json", 1)], cacheDir).search("alpha");
    expect(fs.existsSync(path.join(root.dir, "cache-names", "escape.json"))).toBe(false);
    expect(fs.existsSync(cacheDir)).toBe(false);
  });

  it("ignores a tampered or foreign on-disk copy", async () => {
    const cacheDir = path.join(root.dir, "cache-tamper");
    const c = () => client([reg("first", "/first.json", 1)], cacheDir);
    await c().search("x");
    const file = path.join(cacheDir, "first.json");
    const doc = JSON.parse(fs.readFileSync(file, "utf8"));
    doc.index.packs[0].install_sources[0].checksum = "sha256:nothex";
    fs.writeFileSync(file, JSON.stringify(doc));
    const before = hits("/first.json");
    await c().resolve("alpha");
    expect(hits("/first.json")).toBe(before + 1); // invalid copy ignored, refetched
  });

  it("reads an index from a local path or file:// URL", async () => {
    const file = path.join(root.dir, "local-index.json");
    fs.writeFileSync(file, bodies["/second.json"].body);
    expect(
      (await client([{ name: "p", url: file, priority: 1, enabled: true }]).resolve("beta")).entry.version,
    ).toBe("2.0.0");
    const u = pathToFileURL(file).href;
    expect(
      (await client([{ name: "u", url: u, priority: 1, enabled: true }]).resolve("beta", "1.0.0")).entry
        .version,
    ).toBe("1.0.0");
    const e = await rejection(
      client([{ name: "m", url: path.join(root.dir, "missing.json"), priority: 1, enabled: true }]).resolve(
        "beta",
      ),
    );
    expect(e.code).toBe("EFETCH");
    expect(e.message).toContain('registry "m"');
    // file:/abs (one slash) is this machine's file too
    const one = `file:${file}`;
    expect(
      (await client([{ name: "o", url: one, priority: 1, enabled: true }]).resolve("beta")).entry.version,
    ).toBe("2.0.0");
    // another host's file, or a relative file: URL, is a configuration error: search reports it, install refuses it
    for (const url of ["file://otherhost/tmp/x.json", "file:rel.json"]) {
      const c = client([{ name: "h", url, priority: 1, enabled: true }]);
      const bad = await rejection(c.resolve("beta"));
      expect(bad.code).toBe("ECONFIG");
      expect(bad.message).toMatch(
        /^registry "h" \(file:.*\) cannot be read: url is a (file: URL naming another host|relative file: URL)/,
      );
      const found = await c.searchDetailed("beta");
      expect(found.registries[0]).toMatchObject({ registry: "h", status: "error" });
    }
  });

  it("fails closed on a slow, truncated or redirected-to-forbidden index", async () => {
    srv.route("/slow.json", (_q, r) => {
      r.writeHead(200, { "content-type": "application/json" });
      r.write("{"); // then silence
    });
    srv.route("/cut.json", (_q, r) => {
      r.writeHead(200, { "content-length": "5000" });
      r.write('{"registry_name":');
      setTimeout(() => r.socket?.destroy(), 20);
    });
    srv.route("/huge.json", (_q, r) => {
      r.writeHead(200, { "content-type": "application/json", "content-length": String(17 * 1024 * 1024) });
      r.end();
    });
    srv.route("/evil.json", (_q, r) => {
      r.writeHead(301, { location: "http://169.254.169.254/latest/meta-data" });
      r.end();
    });
    const quick = (p: string) =>
      new RegistryClient({
        registries: [reg("bad", p, 1), reg("second", "/second.json", 2)],
        policy,
        fetchTimeoutMs: 300,
      });
    for (const [p, code] of [
      ["/slow.json", "ETIMEOUT"],
      ["/cut.json", "EFETCH"],
      ["/evil.json", "EPOLICY"],
      ["/huge.json", "ETOO_LARGE"],
    ]) {
      const e = await rejection(quick(p).resolve("beta"));
      expect(e.code).toBe(code);
      expect(e.details?.registry).toBe("bad");
      // the index's cap is fixed: its hint says so instead of naming a setting
      if (code === "ETOO_LARGE") expect((e as { hint?: string }).hint).toMatch(/a fixed cap, not a setting/);
    }
  });

  it("hints at the fix for an index that is not JSON, and at the registry's headers for a 401/403", async () => {
    srv.route("/login.json", (_q, r) => {
      r.writeHead(200, { "content-type": "text/html" });
      r.end("<html>sign in</html>");
    });
    srv.route("/private.json", (_q, r) => {
      r.writeHead(401);
      r.end();
    });
    const html = (await rejection(client([reg("b", "/login.json", 1)]).resolve("beta"))) as {
      code?: string;
      message: string;
      hint?: string;
    };
    expect(html.code).toBe("EINDEX");
    expect(html.message).toMatch(/not valid JSON/);
    expect(html.hint).toMatch(/points at the index file itself \(not a web or login page\)/);
    // an index.json.gz served as a file, without Content-Encoding: said so, not "a login page"
    srv.route("/index.json.gz", (_q, r) => {
      r.writeHead(200, { "content-type": "application/gzip" });
      r.end(gzipSync(Buffer.from("{}")));
    });
    const gz = (await rejection(client([reg("g", "/index.json.gz", 1)]).resolve("beta"))) as {
      code?: string;
      hint?: string;
    };
    expect(gz.code).toBe("EINDEX");
    expect(gz.hint).toMatch(/^the index is gzip-compressed bytes sent without Content-Encoding: gzip/);
    const auth = (await rejection(client([reg("corp", "/private.json", 1)]).resolve("beta"))) as {
      code?: string;
      hint?: string;
    };
    expect(auth.code).toBe("EFETCH");
    expect(auth.hint).toMatch(/configure headers for registry "corp" in config\.yaml/);
    // the message names the registry once, not again as an internal field
    expect((auth as { message: string }).message).toMatch(
      /^registry "corp" \(http:\/\/127\.0\.0\.1:\d+\/private\.json\) cannot be read: http:\/\/127\.0\.0\.1:\d+\/private\.json answered HTTP 401 Unauthorized$/,
    );
    // with headers configured, they are what the server refused: the hint says so
    const refused = (await rejection(
      client([reg("corp", "/private.json", 1, { headers: { authorization: "Bearer old" } })]).resolve("beta"),
    )) as { hint?: string };
    expect(refused.hint).toBe(
      'the server refused the headers configured for registry "corp" (registries[].headers in config.yaml): check that the token they carry is current and grants access to this index',
    );
    // the start of the body JSON.parse quotes is the server's text: escaped, never obeyed
    srv.route("/flip.json", (_q, r) => {
      r.writeHead(200, { "content-type": "application/json" });
      r.end("\x1b[2J\x1b[1;31mPWNED");
    });
    const flip = await rejection(client([reg("f", "/flip.json", 1)]).resolve("beta"));
    expect(flip.message).toMatch(/not valid JSON/);
    expect(flip.message).toContain("\\x1b[2J");
    expect(flip.message).not.toContain("\x1b");
  });

  it("applies the outbound policy to index URLs", async () => {
    const strict = new RegistryClient({
      registries: [reg("first", "/first.json", 1)],
      policy: new OutboundPolicy(),
    });
    const e = await rejection(strict.resolve("alpha"));
    expect(e.code).toBe("EPOLICY");
    expect(e.message).toContain('registry "first"');
  });
});
