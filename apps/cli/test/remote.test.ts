import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { openDatabase } from "@attune/db";
import { serveRoutes, tmpDir, type RouteServer } from "@attune/test-utils";
import YAML from "yaml";
import { startApi, type RunningApi } from "./api-server";
import { INSTALLATION_FIELDS, PACK_FIELDS, makePack } from "./fixtures";
import { baseEnv, json, runCli } from "./helpers";

type Rec = { pack: Record<string, unknown>; installation: Record<string, unknown> };

const INDEX = {
  registry_name: "Remote test",
  registry_url: "https://registry.example.com",
  version: "1.0",
  last_updated: "2026-01-01T00:00:00Z",
  packs: [
    {
      ref: "weather",
      label: "Weather",
      description: "Forecast actions",
      version: "1.0.0",
      author: "A",
      license: "MIT",
      keywords: ["climate"],
      runtime_deps: [],
      install_sources: [
        {
          type: "git",
          url: "https://git.example.com/weather.git",
          ref: "v1.0.0",
          checksum: `sha256:${"a".repeat(64)}`,
        },
      ],
      contents: { actions: [], sensors: [], triggers: [], rules: [], workflows: [] },
    },
  ],
};

describe("pack commands in remote mode (through a running API)", () => {
  const t = tmpDir("attune-cli-remote-");
  const home = path.join(t.dir, "home");
  const src = makePack(path.join(t.dir, "src", "remote"), "remote_pack", "2.0.0");
  let api: RunningApi;
  let registry: RouteServer;
  let token: string;
  let readOnly: string;
  const local = (...args: string[]) => runCli(args, { env: baseEnv({ ATTUNE_HOME: home }) });
  // The CLI's own home is elsewhere: in remote mode nothing local may be used.
  const remote = (...args: string[]) =>
    runCli(args, {
      env: baseEnv({
        ATTUNE_HOME: path.join(t.dir, "client-home"),
        ATTUNE_API_URL: api.url,
        ATTUNE_TOKEN: token,
      }),
    });

  beforeAll(async () => {
    const created = await local("token", "create", "--name", "ci", "-o", "json");
    expect(created.code).toBe(0);
    token = json<{ token: string }>(created).token;
    readOnly = json<{ token: string }>(
      await local("token", "create", "--name", "ro", "--scopes", "packs:read"),
    ).token;
    registry = await serveRoutes();
    registry.file("/index.json", JSON.stringify(INDEX), "application/json");
    api = await startApi({
      ATTUNE_HOME: home,
      ATTUNE_LOCAL_SOURCE_ROOTS: t.dir,
      ATTUNE_REGISTRIES: `reg=${registry.url}/index.json`,
      ATTUNE_ALLOW_HTTP: "true",
      ATTUNE_ALLOWED_PRIVATE_HOSTS: "127.0.0.1,localhost",
    });
  });
  afterAll(async () => {
    await api?.stop();
    await registry?.close();
    t.cleanup();
  });

  it("installs through the API with the same {pack, installation} shape as local mode", async () => {
    const r = await remote("pack", "install", src, "-o", "json");
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    const rec = json<Rec>(r);
    expect(Object.keys(rec.pack).sort()).toEqual(PACK_FIELDS);
    expect(Object.keys(rec.installation).sort()).toEqual(INSTALLATION_FIELDS);
    expect(rec.installation).toMatchObject({ source_type: "local_directory", installation_method: "api" });
    expect(rec.installation.installed_by).not.toBeNull();
    expect(fs.existsSync(path.join(t.dir, "client-home", "attune.db"))).toBe(false);
  });

  it("the table's first line says whether the install upgraded, downgraded or reinstalled, as in local mode", async () => {
    const first = (r: { stdout: string }) => r.stdout.split("\n")[0];
    const v1 = makePack(path.join(t.dir, "moves-1"), "moves_remote", "1.0.0");
    const v2 = makePack(path.join(t.dir, "moves-2"), "moves_remote", "2.0.0");
    expect(first(await remote("pack", "install", v1, "-o", "table"))).toBe("Installed moves_remote 1.0.0");
    expect(first(await remote("pack", "install", v2, "-o", "table"))).toBe(
      "Upgraded moves_remote from 1.0.0 to 2.0.0",
    );
    expect(first(await remote("pack", "install", v1, "-o", "table"))).toBe(
      "Downgraded moves_remote from 2.0.0 to 1.0.0",
    );
    expect(first(await remote("pack", "install", v1, "--force", "-o", "table"))).toBe(
      "Reinstalled moves_remote 1.0.0",
    );
    expect((await remote("pack", "uninstall", "moves_remote", "--yes")).code).toBe(0);
  });

  it("list, show and history print what local mode prints for the same store", async () => {
    for (const cmd of [
      ["pack", "list"],
      ["pack", "show", "remote_pack"],
      ["pack", "history", "remote_pack"],
    ]) {
      const viaApi = await remote(...cmd, "-o", "json");
      const direct = await local(...cmd, "-o", "json");
      expect({ cmd, code: viaApi.code }).toEqual({ cmd, code: 0 });
      expect(json(viaApi)).toEqual(json(direct));
    }
    const yaml = YAML.parse((await remote("pack", "show", "remote_pack", "-o", "yaml")).stdout) as Rec;
    expect(yaml.pack.ref).toBe("remote_pack");
    const table = await remote("pack", "list", "-o", "table");
    expect(table.stdout).toMatch(/^remote_pack\s+2\.0\.0\s+local_directory/m);
  });

  it("history pages as in local mode: same flags, same JSON and table, same refusals", async () => {
    for (let i = 0; i < 3; i++) expect((await remote("pack", "verify", "remote_pack")).code).toBe(0);
    for (const flags of [
      ["--page-size", "2"],
      ["--page", "2", "--page-size", "2"],
      ["--page", "1"],
      ["--page", "99", "--page-size", "3"],
    ]) {
      const viaApi = await remote("pack", "history", "remote_pack", ...flags, "-o", "json");
      const direct = await local("pack", "history", "remote_pack", ...flags, "-o", "json");
      expect({ flags, code: viaApi.code, stderr: viaApi.stderr }).toEqual({ flags, code: 0, stderr: "" });
      expect(json(viaApi)).toEqual(json(direct));
      expect(Object.keys(json<object>(viaApi))).toEqual(["data", "pagination"]);
      const tableApi = await remote("pack", "history", "remote_pack", ...flags, "-o", "table");
      const tableLocal = await local("pack", "history", "remote_pack", ...flags, "-o", "table");
      expect(tableApi.stdout).toBe(tableLocal.stdout);
    }
    const all = json<unknown[]>(await remote("pack", "history", "remote_pack"));
    const p1 = json<{ data: unknown[] }>(await remote("pack", "history", "remote_pack", "--page-size", "2"));
    expect(p1.data).toEqual(all.slice(-2));
    // a ref never seen, and bad numbers (refused before the API is asked), as in local mode
    const never = await remote("pack", "history", "nope_pack", "--page", "1");
    expect(never.code).toBe(1);
    expect(never.stderr).toMatch(
      /^attune: ENOTFOUND: pack 'nope_pack' has no history: it was never installed here/,
    );
    const bad = await remote("pack", "history", "remote_pack", "--page-size", "500");
    expect(bad.code).toBe(2);
    expect(bad.stderr.split("\n")[0]).toBe(
      'attune: EUSAGE: --page-size must be a whole number from 1 to 100, not "500"',
    );
  });

  it("search goes through the API's registries", async () => {
    const r = await remote("pack", "search", "CLIMATE", "-o", "json");
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    expect(json<Array<Record<string, unknown>>>(r)).toEqual([
      expect.objectContaining({ ref: "weather", registry: "reg" }),
    ]);
    const table = await remote("pack", "search", "weather", "-o", "table");
    expect(table.stdout).toMatch(/^weather\s+1\.0\.0\s+reg\s+Forecast actions$/m);
  });

  it("registry list shows the API server's registries (never their headers)", async () => {
    const r = await remote("registry", "list", "-o", "json");
    expect(r.code).toBe(0);
    expect(json(r)).toEqual([
      {
        name: "reg",
        url: `${registry.url}/index.json`,
        priority: 1,
        enabled: true,
        headers: [],
        source: "api",
      },
    ]);
  });

  it("flags work as well as the environment", async () => {
    const r = await runCli(["pack", "list", "--api-url", api.url, "--token", token, "-o", "json"], {
      env: baseEnv({ ATTUNE_HOME: path.join(t.dir, "client-home") }),
    });
    expect(r.code).toBe(0);
    expect(json<Rec[]>(r).map((x) => x.pack.ref)).toEqual(["remote_pack"]);
    expect(json(await remote("pack", "list", "--source-type", "git"))).toEqual([]);
    const dirs = json<Rec[]>(await remote("pack", "list", "--source-type", "local_directory"));
    expect(dirs.map((x) => x.pack.ref)).toEqual(["remote_pack"]);
  });

  it("verify exits 3 after tampering and names the file, as in local mode", async () => {
    expect((await remote("pack", "verify", "remote_pack")).code).toBe(0);
    const dir = String(json<Rec>(await remote("pack", "show", "remote_pack")).installation.storage_path);
    fs.appendFileSync(path.join(dir, "pack.yaml"), "# tampered\n");
    const r = await remote("pack", "verify", "remote_pack", "-o", "json");
    expect(r.code).toBe(3);
    expect(json<Array<Record<string, unknown>>>(r)[0]).toMatchObject({
      ref: "remote_pack",
      ok: false,
      changed: ["pack.yaml"],
    });
    expect(r.stderr).toMatch(/^attune: EINTEGRITY: .*pack\.yaml/);
    const all = await remote("pack", "verify", "--all", "-o", "json");
    expect(all.code).toBe(3);
    // a planted link: the tree cannot be hashed; both modes print the same report, saying why
    fs.symlinkSync("/etc/passwd", path.join(dir, "evil"));
    const viaApi = await remote("pack", "verify", "remote_pack", "-o", "json");
    const inLocalMode = await local("pack", "verify", "remote_pack", "-o", "json");
    for (const v of [viaApi, inLocalMode]) {
      expect(v.code).toBe(3);
      const [report] = json<Array<Record<string, unknown>>>(v);
      expect(Object.keys(report).sort()).toEqual(
        ["actual", "added", "changed", "error", "expected", "ok", "ref", "removed", "version"].sort(),
      );
      expect(report).toMatchObject({
        ok: false,
        version: "2.0.0",
        error: expect.stringMatching(/^ESYMLINK: .*evil/),
      });
      expect(v.stderr).toMatch(/^attune: EINTEGRITY: remote_pack differs .*remote_pack: ESYMLINK: .*evil/);
    }
    fs.rmSync(path.join(dir, "evil"));
  });

  it("API problems render like local errors, with the same exit codes, and never show the token", async () => {
    const missing = await remote("pack", "show", "no_such_pack");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^attune: ENOTFOUND: /);

    const wrong = "att_wrongwrongwrongwrongwrongwrongwrongwrongwro";
    const unauth = await runCli(["pack", "list", "--api-url", api.url, "--token", wrong], { env: baseEnv() });
    expect(unauth.code).toBe(1);
    expect(unauth.stderr).toMatch(/^attune: EUNAUTHORIZED: .+\nhint: .+/);
    expect(unauth.stderr + unauth.stdout).not.toContain(wrong);

    const forbidden = await runCli(["pack", "install", src, "--api-url", api.url, "--token", readOnly], {
      env: baseEnv(),
    });
    expect(forbidden.code).toBe(1);
    expect(forbidden.stderr).toMatch(/^attune: EFORBIDDEN: /);
    expect(forbidden.stderr).not.toContain(readOnly);

    const conflict = await remote("pack", "install", src);
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toMatch(/^attune: ECONFLICT: /);

    const integrity = await remote(
      "pack",
      "install",
      src,
      "--force",
      "--checksum",
      `sha256:${"1".repeat(64)}`,
    );
    expect(integrity.code).toBe(3);
    expect(integrity.stderr).toMatch(/^attune: EINTEGRITY: /);

    // a relative path that is not here would be resolved by the API in its own working directory
    const elsewhere = await remote("pack", "install", "./not-here/pack");
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stderr).toMatch(
      /^attune: ENOENT: \.\/not-here\/pack: no such file or directory here\nhint: .*absolute path/,
    );
  });

  it.each([
    ["starts with '-'", "-x", /it starts with '-'/],
    ["is too long for git", "a".repeat(300), /it is longer than 255 characters/],
    ["holds a control character", "v1\u0007", /it holds control characters/],
  ])("a --ref that %s: the same code, message and hint as local mode (exit 2)", async (_name, ref, why) => {
    const args = ["pack", "install", "https://git.example.com/p.git", `--ref=${ref}`];
    const here = await local(...args);
    const there = await remote(...args);
    expect(here.code).toBe(2);
    expect(here.stderr).toMatch(why);
    expect(here.stderr).toMatch(/\nhint: give a tag, a branch name or a 40-hex commit SHA/);
    expect(there.code).toBe(2);
    // remote mode only adds the API's status to the message line
    expect(there.stderr).toBe(here.stderr.replace(/\n/, " (API status 400)\n"));
  });

  it("a --ref a registry ref cannot take names the flag and what it takes, in both modes (exit 2)", async () => {
    const args = ["pack", "install", "weather", "--ref", "a b"];
    const here = await local(...args);
    const there = await remote(...args);
    expect({ code: here.code, stderr: here.stderr }).toEqual({
      code: 2,
      stderr:
        'attune: EINVALID_INPUT: --ref: "a b" is not a version, "latest" or a semver range\n' +
        "hint: --ref takes a registry version for a registry ref: 1.2.3, latest or a range such as ^1.2 (or leave it out for the latest)\n",
    });
    expect(there.code).toBe(2);
    expect(there.stderr).toBe(here.stderr.replace(/\n/, " (API status 400)\n"));
    // a version given twice: the flag and the source are named, with both ways to give it once
    const twice = await remote("pack", "install", "weather@1.0.0", "--ref", "1.0.0");
    expect({ code: twice.code, stderr: twice.stderr }).toEqual({
      code: 2,
      stderr:
        'attune: EINVALID_INPUT: --ref "1.0.0" gives a version, and so does "weather@1.0.0" (API status 400)\n' +
        "hint: give the version once: `attune pack install weather@1.0.0`, or the bare ref with --ref (`attune pack install weather --ref <version>`)\n",
    });
  });

  it("a missing or refused token: the hint says how to pass one to the CLI, not which header to send", async () => {
    const none = await runCli(["pack", "list", "--api-url", api.url], {
      env: baseEnv({ ATTUNE_HOME: path.join(t.dir, "client-home") }),
    });
    expect({ code: none.code, stderr: none.stderr }).toEqual({
      code: 1,
      stderr:
        "attune: EUNAUTHORIZED: authentication required: no Authorization header (API status 401)\n" +
        "hint: pass a token with --token or set ATTUNE_TOKEN (create one with `attune token create` on the API server's machine)\n",
    });
    const wrong = await runCli(
      ["pack", "list", "--api-url", api.url, "--token", "att_wrongwrongwrongwrongwrongwrongwrongwrongwro"],
      { env: baseEnv({ ATTUNE_HOME: path.join(t.dir, "client-home") }) },
    );
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toBe(
      "attune: EUNAUTHORIZED: the token is unknown, revoked or expired (API status 401)\n" +
        "hint: pass a valid token with --token or ATTUNE_TOKEN (create one with `attune token create` on the API server's machine; `attune token list` there shows whether this one expired or was revoked)\n",
    );
  });

  it("a token past its --expires-in is refused by the API", async () => {
    const created = await local("token", "create", "--name", "short", "--expires-in", "1h", "-o", "json");
    expect(created.code).toBe(0);
    const { id, token: secret, expires } = json<{ id: number; token: string; expires: string }>(created);
    expect(Date.parse(expires) - Date.now()).toBeGreaterThan(59 * 60_000);
    expect(Date.parse(expires) - Date.now()).toBeLessThanOrEqual(60 * 60_000);
    // the hour has passed (the record is moved back: the API reads the same database)
    const handle = await openDatabase({ home });
    try {
      await handle.db.apiToken.update({ where: { id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    } finally {
      await handle.close();
    }
    const r = await runCli(["pack", "list", "--api-url", api.url, "--token", secret], {
      env: baseEnv({ ATTUNE_HOME: path.join(t.dir, "client-home") }),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^attune: EUNAUTHORIZED: the token is unknown, revoked or expired \(API status 401\)\n/,
    );
    const listed = json<Array<{ id: number; expires: string }>>(await local("token", "list", "-o", "json"));
    expect(Date.parse(listed.find((x) => x.id === id)!.expires)).toBeLessThan(Date.now());
    expect((await local("token", "list", "-o", "table")).stdout).toMatch(
      new RegExp(`^${id} +short .* expired$`, "m"),
    );
  });

  it("an unreachable API is one EFETCH line (exit 1)", async () => {
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const r = await runCli(["pack", "list", "--api-url", `http://127.0.0.1:${port}`, "--token", token], {
      env: baseEnv(),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^attune: EFETCH: .*cannot reach the Attune API/);
    expect(r.stderr).not.toContain(token);
  });

  it("a wrong API URL says so: a path prefix, or a server that is not an Attune API", async () => {
    const prefixed = await runCli(["pack", "list", "--api-url", `${api.url}/prefix`, "--token", token], {
      env: baseEnv(),
    });
    expect(prefixed.code).toBe(1);
    expect(prefixed.stderr).toMatch(
      /^attune: ENOTFOUND: no route GET \/prefix\/api\/v1\/packs.*\nhint: check that --api-url/,
    );
    const other = await serveRoutes(); // answers 404 with a plain page
    try {
      const r = await runCli(["pack", "show", "x_pack", "--api-url", other.url, "--token", token], {
        env: baseEnv(),
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        /^attune: ENOTFOUND: the server answered HTTP 404 without an Attune error body \(is it an Attune API\?\)\nhint: check that --api-url/,
      );
    } finally {
      await other.close();
    }
  });

  it("uninstall of a pack others depend on: refused through the API (exit 1, naming them), --skip-deps passes", async () => {
    const base = makePack(path.join(t.dir, "src", "base"), "dep_base", "1.0.0");
    const user = makePack(path.join(t.dir, "src", "user"), "dep_user", "1.0.0", {
      "pack.yaml":
        "ref: dep_user\nlabel: user\nversion: 1.0.0\ndescription: needs dep_base\ndependencies:\n  - dep_base@^1\n",
    });
    expect((await remote("pack", "install", base)).code).toBe(0);
    expect((await remote("pack", "install", user)).code).toBe(0);
    const refused = await remote("pack", "uninstall", "dep_base", "--yes");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /^attune: EDEPENDENCY: pack 'dep_base' is needed by installed packs: dep_user 1\.0\.0 \(needs dep_base@\^1\)/,
    );
    const forced = await remote("pack", "uninstall", "dep_base", "--yes", "--skip-deps", "-o", "json");
    expect(forced.code).toBe(0);
    // what --skip-deps let through: in the JSON and, whatever the format, on stderr
    expect(json(forced)).toEqual({
      ref: "dep_base",
      removed: ["1.0.0"],
      broken_dependents: [{ ref: "dep_user", version: "1.0.0", range: "^1" }],
    });
    expect(forced.stderr).toBe(
      "attune: warning: with dep_base removed, installed packs go without what they need: dep_user 1.0.0 (needs dep_base@^1)\n",
    );
    expect((await remote("pack", "uninstall", "dep_user", "--yes")).code).toBe(0);
  });

  it("uninstalls through the API", async () => {
    const r = await remote("pack", "uninstall", "remote_pack", "--yes", "-o", "json");
    expect(r.code).toBe(0);
    expect(json(r)).toEqual({ ref: "remote_pack", removed: ["2.0.0"] });
    expect(json<Rec[]>(await local("pack", "list"))).toEqual([]);
  });
});
