import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { makeBareRepo, serveGit, serveRoutes, tmpDir, type RouteServer } from "@attune/test-utils";
import { makePack, makeTarGz } from "./fixtures";
import { REPO_ROOT, baseEnv, json, runCli } from "./helpers";

type Rec = { pack: Record<string, unknown>; installation: Record<string, unknown> };

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

const PACK_YAML = (ref: string, version: string) =>
  `ref: ${ref}\nlabel: ${ref}\nversion: ${version}\ndescription: a ${ref} pack for source tests\n`;

describe("pack install from every source type", () => {
  const t = tmpDir("attune-cli-sources-");
  const home = path.join(t.dir, "home");
  let git: Awaited<ReturnType<typeof serveGit>>;
  let http: RouteServer;
  let shas: string[];
  const env = () =>
    baseEnv({
      ATTUNE_HOME: home,
      ATTUNE_ALLOW_HTTP: "true",
      ATTUNE_ALLOWED_PRIVATE_HOSTS: "127.0.0.1,localhost",
      ATTUNE_REGISTRIES: `test=${http.url}/index.json`,
    });
  const cli = (...args: string[]) => runCli(args, { env: env() });

  beforeAll(async () => {
    const repos = path.join(t.dir, "repos");
    fs.mkdirSync(repos);
    shas = makeBareRepo(repos, "gitpack", [
      { files: { "pack.yaml": PACK_YAML("git_pack", "1.0.0"), "actions/a.sh": "echo 1\n" }, tag: "v1.0.0" },
      { files: { "pack.yaml": PACK_YAML("git_pack", "1.1.0"), "actions/a.sh": "echo 2\n" }, tag: "v1.1.0" },
    ]);
    // tag v3.0.0 holds a pack.yaml that still says 2.0.0
    makeBareRepo(repos, "mistagged", [
      { files: { "pack.yaml": PACK_YAML("mis_pack", "2.0.0"), "actions/a.sh": "echo 1\n" }, tag: "v2.0.0" },
      { files: { "pack.yaml": PACK_YAML("mis_pack", "2.0.0"), "actions/a.sh": "echo 2\n" }, tag: "v3.0.0" },
    ]);
    git = await serveGit(repos);
    http = await serveRoutes();
  });
  afterAll(async () => {
    await git?.close();
    await http?.close();
    t.cleanup();
  });

  it("local_archive: a .tar.gz on disk", async () => {
    const dir = makePack(path.join(t.dir, "arch"), "archive_pack", "1.0.0");
    const file = makeTarGz(dir, path.join(t.dir, "archive_pack-1.0.0.tar.gz"));
    const r = await cli("pack", "install", file, "-o", "json");
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    expect(json<Rec>(r).installation).toMatchObject({ source_type: "local_archive" });
    expect(json<Rec>(r).installation.checksum).toBe(
      json<{ checksum: string }>(await cli("pack", "checksum", dir)).checksum,
    );
  });

  it("local_archive of 1,200 files: the process exits once installed (the reader thread never holds it)", async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 1200; i++) files[`actions/f${i}.txt`] = `${i}\n`;
    const dir = makePack(path.join(t.dir, "many-arch"), "many_archive", "1.0.0", files);
    const file = makeTarGz(dir, path.join(t.dir, "many_archive-1.0.0.tar.gz"));
    const started = Date.now();
    const r = await runCli(["pack", "install", file, "-o", "json"], { env: env(), timeoutMs: 30_000 });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    expect(json<Rec>(r).pack.ref).toBe("many_archive");
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it("git: a tag over http, recording the resolved commit", async () => {
    const r = await cli("pack", "install", `${git.url}/gitpack.git`, "--ref", "v1.0.0", "-o", "json");
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    const rec = json<Rec>(r);
    expect(rec.pack.version).toBe("1.0.0");
    expect(rec.installation).toMatchObject({
      source_type: "git",
      source_ref: "v1.0.0",
      resolved_commit: shas[0],
    });
  });

  it("git: a version-like tag whose pack.yaml says another version installs it, with a note on stderr", async () => {
    const url = `${git.url}/mistagged.git`;
    const r = await cli("pack", "install", url, "--ref", "v3.0.0", "-o", "json");
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(
      "attune: note: git ref v3.0.0 holds pack.yaml version 2.0.0, not 3.0.0: installed mis_pack 2.0.0\n",
    );
    expect(json<Rec>(r)).toMatchObject({
      pack: { version: "2.0.0" },
      installation: { source_ref: "v3.0.0" },
    });
    // -q: no note
    const quiet = await cli("pack", "install", url, "--ref", "v3.0.0", "--force", "-q", "-o", "json");
    expect({ code: quiet.code, stderr: quiet.stderr }).toEqual({ code: 0, stderr: "" });
    // a tag that names the version: no note
    const named = await cli("pack", "install", url, "--ref", "v2.0.0", "--force", "-o", "json");
    expect({ code: named.code, stderr: named.stderr }).toEqual({ code: 0, stderr: "" });
    // installed already: the conflict names the ref asked for and the version it holds
    const again = await cli("pack", "install", url, "--ref", "v3.0.0");
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(
      /^attune: ECONFLICT: pack 'mis_pack': git ref v3\.0\.0 holds version 2\.0\.0 \(its pack\.yaml\), which is already installed\nhint: pass force/,
    );
  });

  it("text a remote sent is shown with control characters as \\x1b and bidirectional overrides as \\u202e", async () => {
    http.file(
      "/esc.git/info/refs",
      "hello\u001b[2J\u001b[31mRED\u0007\u001b]0;title\u0007 \u202e evil",
      "text/plain",
    );
    const r = await cli("pack", "install", `${http.url}/esc.git`, "-o", "json");
    expect(r.code).not.toBe(0);
    // eslint-disable-next-line no-control-regex -- the point is that none reaches the terminal
    expect(r.stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
    expect(r.stderr).toContain("hello\\x1b[2J\\x1b[31mRED\\x07\\x1b]0;title\\x07 \\u202e evil");
  });

  it("archive: an archive URL", async () => {
    const dir = makePack(path.join(t.dir, "url"), "url_pack", "3.0.0");
    http.file(
      "/url_pack-3.0.0.tgz",
      fs.readFileSync(makeTarGz(dir, path.join(t.dir, "url_pack.tgz"))),
      "application/gzip",
    );
    const r = await cli("pack", "install", `${http.url}/url_pack-3.0.0.tgz`, "-o", "json");
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    expect(json<Rec>(r).installation).toMatchObject({ source_type: "archive" });
  });

  it("http sources are refused without the outbound policy opt-in (EPOLICY, exit 1)", async () => {
    const r = await runCli(["pack", "install", `${http.url}/url_pack-3.0.0.tgz`, "--force"], {
      env: baseEnv({ ATTUNE_HOME: home }),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^attune: EPOLICY: /);
  });

  it("registry: index-entry builds the entry, search finds it, install resolves ref@version", async () => {
    const work = path.join(t.dir, "git-checkout");
    fs.mkdirSync(work);
    fs.writeFileSync(path.join(work, "pack.yaml"), PACK_YAML("git_pack", "1.1.0"));
    fs.mkdirSync(path.join(work, "actions"));
    fs.writeFileSync(path.join(work, "actions", "a.sh"), "echo 2\n");
    const indexFile = path.join(t.dir, "index.json");
    fs.writeFileSync(
      indexFile,
      JSON.stringify({
        registry_name: "Test",
        registry_url: http.url,
        version: "1.0",
        last_updated: "2026-01-01T00:00:00Z",
        packs: [],
      }),
    );
    const entry = await cli(
      "pack",
      "index-entry",
      work,
      "--git-url",
      `${git.url}/gitpack.git`,
      "--git-ref",
      "v1.1.0",
      "--index-file",
      indexFile,
      "-o",
      "json",
    );
    expect({ code: entry.code, stderr: entry.stderr }).toEqual({ code: 0, stderr: "" });
    const e = json<{ ref: string; install_sources: Array<Record<string, unknown>> }>(entry);
    expect(e.ref).toBe("git_pack");
    expect(e.install_sources[0]).toMatchObject({ type: "git", ref: "v1.1.0" });
    const index = JSON.parse(fs.readFileSync(indexFile, "utf8")) as { packs: Array<{ ref: string }> };
    expect(index.packs.map((p) => p.ref)).toEqual(["git_pack"]);
    http.file("/index.json", JSON.stringify(index), "application/json");

    const found = await cli("pack", "search", "GIT_PACK", "-o", "json");
    expect(found.code).toBe(0);
    expect(json<Array<Record<string, unknown>>>(found)).toEqual([
      expect.objectContaining({ ref: "git_pack", registry: "test" }),
    ]);
    expect(json<unknown[]>(await cli("pack", "search", "nothing-like-this"))).toEqual([]);
    const partial = await runCli(["pack", "search", "git_pack"], {
      env: { ...env(), ATTUNE_REGISTRIES: `test=${http.url}/index.json,down=${http.url}/missing.json` },
    });
    expect(partial.code).toBe(0);
    expect(json<Array<{ ref: string }>>(partial).map((x) => x.ref)).toEqual(["git_pack"]);
    expect(partial.stderr).toMatch(/^attune: warning: registry down could not be read/m);
    // refused by this machine's settings: the warning says how to allow it, as an install's error does
    const refused = await runCli(["pack", "search", "git_pack"], {
      env: { ...env(), ATTUNE_REGISTRIES: `plain=${http.url}/index.json`, ATTUNE_ALLOW_HTTP: "false" },
    });
    expect(refused.code).toBe(0);
    expect(refused.stderr).toMatch(
      /^attune: warning: registry plain could not be read \(EPOLICY: .*plain http is refused.*\)\nhint: set allow_http: true in config\.yaml or ATTUNE_ALLOW_HTTP=true/m,
    );
    // a registry read before and unreachable now: its older copy is used, and the warning says how old
    const staleHome = path.join(t.dir, "stale-home");
    fs.mkdirSync(staleHome);
    fs.writeFileSync(path.join(staleHome, "config.yaml"), "index_cache_ttl_seconds: 0\n");
    const flaky = { ...env(), ATTUNE_HOME: staleHome, ATTUNE_REGISTRIES: `flaky=${http.url}/flaky.json` };
    http.file("/flaky.json", JSON.stringify(index), "application/json");
    expect((await runCli(["pack", "search", "git_pack"], { env: flaky })).stderr).toBe("");
    http.route("/flaky.json", (_q, res) => {
      res.writeHead(503);
      res.end();
    });
    const stale = await runCli(["pack", "search", "git_pack"], { env: flaky });
    expect(json<Array<{ ref: string }>>(stale).map((x) => x.ref)).toEqual(["git_pack"]);
    expect(stale.stderr).toMatch(
      /^attune: warning: registry flaky could not be read now; using a copy \d+ s old/m,
    );

    const r = await cli("pack", "install", "git_pack@1.1.0", "--force", "-o", "json");
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    expect(json<Rec>(r).pack.version).toBe("1.1.0");
    expect(json<Rec>(r).installation).toMatchObject({ source_type: "registry", resolved_commit: shas[1] });
  });

  it("registry: a version published after the index was cached is found; --refresh reads the index now", async () => {
    const publish = (versions: string[]) => {
      const packs = versions.map((v) => {
        const tgz = fs.readFileSync(
          makeTarGz(
            makePack(path.join(t.dir, `fresh-${v}`), "fresh_pack", v),
            path.join(t.dir, `fresh-${v}.tgz`),
          ),
        );
        http.file(`/fresh-${v}.tgz`, tgz, "application/gzip");
        const sum = crypto.createHash("sha256").update(tgz).digest("hex");
        return {
          ref: "fresh_pack",
          label: "Fresh",
          description: "published in steps",
          version: v,
          author: "Attune",
          license: "MIT",
          keywords: [],
          runtime_deps: [],
          install_sources: [
            { type: "archive", url: `${http.url}/fresh-${v}.tgz`, checksum: `sha256:${sum}` },
          ],
          contents: { actions: [], sensors: [], triggers: [], rules: [], workflows: [] },
        };
      });
      const index = {
        registry_name: "Pub",
        registry_url: http.url,
        version: "1.0",
        last_updated: "2026-01-01T00:00:00Z",
        packs,
      };
      http.file("/pub.json", JSON.stringify(index), "application/json");
    };
    const pubHome = path.join(t.dir, "pub-home");
    const pub = (...args: string[]) =>
      runCli(args, {
        env: { ...env(), ATTUNE_HOME: pubHome, ATTUNE_REGISTRIES: `pub=${http.url}/pub.json` },
      });
    const version = async (r: Awaited<ReturnType<typeof pub>>) => {
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
      return json<Rec>(r).pack.version;
    };
    publish(["1.0.0"]);
    expect(await version(await pub("pack", "install", "fresh_pack", "-o", "json"))).toBe("1.0.0");
    publish(["1.0.0", "1.1.0"]);
    // the cached index (default TTL 300 s) lacks 1.1.0: it is read again before "no such version"
    expect(await version(await pub("pack", "install", "fresh_pack@1.1.0", "-o", "json"))).toBe("1.1.0");
    publish(["1.0.0", "1.1.0", "1.2.0"]);
    // within the TTL, search and latest answer from the copy; --refresh reads the index now
    const cached = json<Array<{ version: string }>>(await pub("pack", "search", "fresh", "-o", "json"));
    expect(cached[0].version).toBe("1.1.0");
    const now = json<Array<{ version: string }>>(
      await pub("pack", "search", "fresh", "--refresh", "-o", "json"),
    );
    expect(now[0].version).toBe("1.2.0");
    expect(await version(await pub("pack", "install", "fresh_pack", "--refresh", "-o", "json"))).toBe(
      "1.2.0",
    );
  });

  it("a ref in none of the registries hints at ./name only when that local path exists", async () => {
    const cwd = path.join(t.dir, "hint-cwd");
    fs.mkdirSync(cwd);
    for (const source of ["nosuch_pack", "nosuch_pack@1.0.0"]) {
      const r = await runCli(["pack", "install", source], { env: env(), cwd });
      expect({ source, code: r.code }).toEqual({ source, code: 1 });
      expect(r.stderr).toBe(
        'attune: ENOTFOUND: pack "nosuch_pack" is in none of the registries: test\n' +
          "hint: check the ref with `attune pack search`\n",
      );
    }
    fs.mkdirSync(path.join(cwd, "nosuch_pack"));
    for (const source of ["nosuch_pack", "nosuch_pack@1.0.0"]) {
      const r = await runCli(["pack", "install", source], { env: env(), cwd });
      expect({ source, code: r.code }).toEqual({ source, code: 1 });
      expect(r.stderr).toContain(
        "hint: a bare name is a registry ref; for the local directory give a path: attune pack install ./nosuch_pack\n",
      );
    }
  });

  it("index-entry's archive example from --help works: the entry carries the archive's checksum", async () => {
    const help = await cli("pack", "index-entry", "--help");
    // the examples wrap at the terminal's width: read them as one run of words
    const examples = help.stdout.slice(help.stdout.indexOf("Examples:")).split(/\s+/);
    const at = examples.findIndex((w, i) => w === "index-entry" && examples[i + 2] === "--archive-url");
    const words = examples.slice(at + 1, at + 6);
    expect(words).toEqual([
      "p-1.0.0.tgz",
      "--archive-url",
      "https://e.example/p-1.0.0.tgz",
      "--index-file",
      "index.json",
    ]);
    const cwd = path.join(t.dir, "example");
    makeTarGz(makePack(path.join(cwd, "p"), "example_pack", "1.0.0"), path.join(cwd, "p-1.0.0.tgz"));
    const r = await runCli(["pack", "index-entry", ...words, "-o", "json"], { env: env(), cwd });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    const sha = crypto
      .createHash("sha256")
      .update(fs.readFileSync(path.join(cwd, "p-1.0.0.tgz")))
      .digest("hex");
    expect(json<{ install_sources: unknown[] }>(r).install_sources).toEqual([
      { type: "archive", url: "https://e.example/p-1.0.0.tgz", checksum: `sha256:${sha}` },
    ]);
    expect(fs.existsSync(path.join(cwd, "index.json"))).toBe(true);
  });

  it("index-entry without a source URL is a usage error", async () => {
    const r = await cli("pack", "index-entry", path.join(t.dir, "git-checkout"));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--git-url");
  });

  it("index-entry refuses an --archive-file that is no archive, by its name and its bytes (exit 2)", async () => {
    const dir = makePack(path.join(t.dir, "ie-archive-file"), "ie_archive", "1.0.0");
    const fake = path.join(t.dir, "ie-fake.tgz");
    fs.writeFileSync(fake, "not gzip at all\n");
    const tgz = makeTarGz(dir, path.join(t.dir, "ie-real.tgz"));
    const renamed = path.join(t.dir, "ie-real.zip");
    fs.copyFileSync(tgz, renamed);
    for (const [file, said] of [
      [path.join(REPO_ROOT, "README.md"), "README.md is not a .tar.gz, .tgz, .tar or .zip archive"],
      [fake, "ie-fake.tgz is not a tar.gz archive: its first bytes match no gzip, zip or tar header"],
      [renamed, "ie-real.zip is named like a zip archive but its bytes are tar.gz"],
      [t.dir, `${t.dir} is not a regular file`],
    ] as const) {
      const r = await cli(
        "pack",
        "index-entry",
        dir,
        "--archive-url",
        "https://e.example/p.tgz",
        "--archive-file",
        file,
      );
      expect({ file, code: r.code, stdout: r.stdout }).toEqual({ file, code: 2, stdout: "" });
      expect(r.stderr).toMatch(
        new RegExp(`^attune: EINVALID_INPUT: --archive-file: ${escapeRe(said)}\nhint: `),
      );
    }
    // the archive URL's name must promise what the file is: the install would refuse it otherwise
    const url = await cli(
      "pack",
      "index-entry",
      dir,
      "--archive-url",
      "https://e.example/p.zip",
      "--archive-file",
      tgz,
    );
    expect({ code: url.code, stdout: url.stdout }).toEqual({ code: 2, stdout: "" });
    expect(url.stderr).toMatch(
      /^attune: EINVALID_INPUT: --archive-url: "https:\/\/e\.example\/p\.zip" names a zip archive, but ie-real\.tgz is tar\.gz\nhint: /,
    );
    const ok = await cli(
      "pack",
      "index-entry",
      dir,
      "--archive-url",
      "https://e.example/p.tgz",
      "--archive-file",
      tgz,
    );
    expect({ code: ok.code, stderr: ok.stderr }).toEqual({ code: 0, stderr: "" });
  });

  it("index-entry names the flag or the pack's file when the entry it built would be refused", async () => {
    const dir = makePack(path.join(t.dir, "ie-bad"), "ie_bad", "1.0.0");
    const space = await cli(
      "pack",
      "index-entry",
      dir,
      "--git-url",
      "https://g.example/a b.git",
      "--git-ref",
      "v1",
    );
    expect({ code: space.code, stdout: space.stdout }).toEqual({ code: 2, stdout: "" });
    expect(space.stderr).toBe(
      'attune: EINVALID_INPUT: --git-url: "https://g.example/a b.git" contains white space\n' +
        "hint: give the URL percent-encoded, as it is published (a space is %20)\n",
    );
    const archive = await cli(
      "pack",
      "index-entry",
      dir,
      "--archive-url",
      "https://e.example/a b.tgz",
      "--archive-file",
      makeTarGz(dir, path.join(t.dir, "ie-bad.tgz")),
    );
    expect(archive.code).toBe(2);
    expect(archive.stderr).toMatch(/^attune: EINVALID_INPUT: --archive-url: ".*" contains white space\n/);
    // an action definition without a name: the file is named, and the hint is about the pack
    fs.writeFileSync(path.join(dir, "actions", ".yaml"), "name: x\n");
    const unnamed = await cli(
      "pack",
      "index-entry",
      dir,
      "--git-url",
      "https://g.example/ab.git",
      "--git-ref",
      "v1",
    );
    expect({ code: unnamed.code, stdout: unnamed.stdout }).toEqual({ code: 1, stdout: "" });
    expect(unnamed.stderr).toBe(
      `attune: EMANIFEST: ${path.join(dir, "actions", ".yaml")}: the action has an empty name (the index lists each by its file name, without .yaml)\n` +
        "hint: rename it to <name>.yaml, or remove it from the pack\n",
    );
  });

  it("index-entry errors name the flags the user typed, not the library's option names", async () => {
    const r = await cli(
      "pack",
      "index-entry",
      path.join(t.dir, "git-checkout"),
      "--git-url",
      "https://git.example.com/p.git",
      "--git-ref",
      "a..b",
    );
    expect(r.code).toBe(2); // a bad value of a flag, as cli.md says
    expect(r.stderr).toMatch(/^attune: EINVALID_INPUT: --git-ref: git ref "a\.\.b" is refused/);
    expect(r.stderr).not.toMatch(/gitRef/);
    // a URL with credentials is refused without printing the password back, with a hint
    for (const flag of ["--archive-url", "--git-url"]) {
      const c = await cli(
        "pack",
        "index-entry",
        path.join(t.dir, "git-checkout"),
        flag,
        "https://u:secretpw@e.example/p.tgz",
        ...(flag === "--git-url" ? ["--git-ref", "v1"] : ["--archive-file", path.join(t.dir, "none.tgz")]),
      );
      expect(c.code).toBe(2);
      expect(c.stderr).toMatch(
        new RegExp(`^attune: EINVALID_INPUT: ${flag}: ".*" must not contain a user name or password\nhint: `),
      );
      expect(c.stderr).not.toContain("secretpw");
    }
  });
});
