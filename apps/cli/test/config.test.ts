import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { tmpDir } from "@attune/test-utils";
import YAML from "yaml";
import { REPO_ROOT, baseEnv, json, runCli } from "./helpers";

type Shown = Record<string, { value: unknown; source: string; from?: string }>;

describe("configuration precedence and `config show`", () => {
  const t = tmpDir("attune-cli-config-");
  const home = path.join(t.dir, "home");
  fs.mkdirSync(home);
  fs.writeFileSync(
    path.join(home, "config.yaml"),
    YAML.stringify({
      packs_dir: path.join(t.dir, "from-config"),
      api_url: "https://config.example.com",
      token: "config-secret-token",
      database_url: "postgresql://user:dbsecret@db.example.com/attune",
      allow_http: true,
      registries: [
        {
          name: "main",
          url: "https://r.example.com/index.json",
          priority: 1,
          enabled: true,
          headers: { Authorization: "Bearer hdrsecret" },
        },
      ],
    }),
  );
  afterAll(() => t.cleanup());

  it("flags beat the environment, which beats config.yaml, which beats defaults", async () => {
    const r = await runCli(
      ["config", "show", "--home", home, "--packs-dir", path.join(t.dir, "from-flag"), "-o", "json"],
      {
        env: baseEnv({ ATTUNE_HOME: path.join(t.dir, "ignored"), ATTUNE_API_URL: "https://env.example.com" }),
      },
    );
    expect(r.code).toBe(0);
    const s = json<Shown>(r);
    expect(s.home).toEqual({ value: home, source: "flag", from: "--home" });
    expect(s.packs_dir).toEqual({
      value: path.join(t.dir, "from-flag"),
      source: "flag",
      from: "--packs-dir",
    });
    expect(s.api_url).toEqual({ value: "https://env.example.com", source: "env", from: "ATTUNE_API_URL" });
    expect(s.mode.value).toBe("remote");
    expect(s.allow_http).toEqual({ value: true, source: "config", from: "allow_http" });
    expect(s.registries).toEqual({ value: ["main"], source: "config", from: "registries" });
    expect(s.output.value).toBe("json");
    // defaults are the values in effect, and a setting only the API applies says so
    expect(s.index_cache_ttl_seconds).toEqual({ value: 300, source: "default" });
    expect(s.local_source_roots).toMatchObject({
      value: [],
      source: "default",
      note: expect.stringMatching(/^applied by the API/),
    });
  });

  it("an empty or relative HOME without ATTUNE_HOME is ECONFIG, and nothing is created where it runs", async () => {
    const cwd = path.join(t.dir, "cwd-for-home");
    fs.mkdirSync(cwd);
    for (const HOME of ["", "rel"]) {
      const r = await runCli(["pack", "list"], { env: baseEnv({ HOME }), cwd });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^attune: ECONFIG: the home directory is unknown/);
      expect(r.stderr).toMatch(/hint: set ATTUNE_HOME/);
    }
    expect(fs.readdirSync(cwd)).toEqual([]);
    // ATTUNE_HOME alone is enough
    const ok = await runCli(["pack", "list", "-o", "json"], {
      env: baseEnv({ HOME: "", ATTUNE_HOME: path.join(t.dir, "home-without-HOME") }),
      cwd,
    });
    expect(ok.code).toBe(0);
  });

  it("config show as a table never cuts a value: the registries are wrapped, one a line", async () => {
    const names = Array.from({ length: 8 }, (_, i) => `registry_number_${i}`);
    const h = path.join(t.dir, "wide-home");
    fs.mkdirSync(h);
    const dbFile = path.join(h, "a-rather-long-directory-name-for-the-database", "x".repeat(40), "attune.db");
    const r = await runCli(["config", "show", "-o", "table", "--database-url", `file:${dbFile}`], {
      env: baseEnv({
        ATTUNE_HOME: h,
        ATTUNE_REGISTRIES: names.map((n) => `${n}=https://${n}.example.com/index.json`).join(","),
      }),
    });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    const lines = r.stdout.trimEnd().split("\n");
    const at = lines.findIndex((l) => l.startsWith("registries "));
    expect(lines.slice(at).map((l) => l.trim().split(/\s{2,}/))).toEqual([
      // the source column gives the room (the database URL below is wider than the terminal)
      ["registries", names[0], expect.stringMatching(/^env/)],
      ...names.slice(1).map((n) => [n]),
    ]);
    // a value wider than the terminal is printed whole too (the row runs past the edge)
    expect(lines.find((l) => l.startsWith("database_url "))).toContain(`file:${dbFile}`);
    for (const l of lines) expect(l.split(/\s{2,}/)[1] ?? "").not.toContain("…");
  });

  it("config show as a table never cuts a source either: where a value came from is shown whole", async () => {
    const h = path.join(t.dir, "source-home");
    fs.mkdirSync(h);
    const r = await runCli(
      ["config", "show", "-o", "table", "--api-url", "https://a.example", "--database-url", `file:${h}/x.db`],
      {
        env: baseEnv({
          ATTUNE_HOME: h,
          ATTUNE_PACKS_DIR: path.join(h, "packs"),
          ATTUNE_ALLOWED_PRIVATE_HOSTS: "localhost",
          ATTUNE_MAX_DOWNLOAD_BYTES: "1000",
        }),
      },
    );
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    expect(r.stdout).not.toContain("…");
    const sources = Object.fromEntries(
      r.stdout
        .trimEnd()
        .split("\n")
        .slice(1)
        .map((l) => l.split(/\s{2,}/))
        .map(([setting, , source]) => [setting, source]),
    );
    expect(sources).toMatchObject({
      packs_dir: "env (ATTUNE_PACKS_DIR)",
      database_url: "flag (--database-url)",
      api_url: "flag (--api-url)",
      allowed_private_hosts: "env (ATTUNE_ALLOWED_PRIVATE_HOSTS)",
      max_download_bytes: "env (ATTUNE_MAX_DOWNLOAD_BYTES)",
      local_source_roots: "default; applied by the API only (its env wins); the CLI installs any local path",
    });
  });

  it("redacts secrets: token, database password, registry headers", async () => {
    const r = await runCli(["config", "show", "-o", "yaml"], { env: baseEnv({ ATTUNE_HOME: home }) });
    const s = YAML.parse(r.stdout) as Shown;
    expect(s.token).toEqual({ value: "***", source: "config", from: "token" });
    expect(s.database_url.value).toBe("postgresql://user:***@db.example.com/attune");
    const table = await runCli(["config", "show", "-o", "table"], { env: baseEnv({ ATTUNE_HOME: home }) });
    // registry list of a local-mode home with the same header (this home's api_url makes it remote)
    const local = path.join(t.dir, "headers-home");
    fs.mkdirSync(local);
    const cfg = YAML.parse(fs.readFileSync(path.join(home, "config.yaml"), "utf8")) as Record<
      string,
      unknown
    >;
    fs.writeFileSync(path.join(local, "config.yaml"), YAML.stringify({ registries: cfg.registries }));
    const regs = await runCli(["registry", "list", "-o", "json"], { env: baseEnv({ ATTUNE_HOME: local }) });
    expect(json<Array<{ headers: string[] }>>(regs)[0].headers).toEqual(["Authorization"]);
    for (const out of [r.stdout, table.stdout, regs.stdout])
      for (const secret of ["config-secret-token", "dbsecret", "hdrsecret"])
        expect(out).not.toContain(secret);
    // libpq's ?password= form, in config show, db migrate's output and a connection error
    const queryUrl = "postgresql://127.0.0.1:1/attune?user=u&password=QuerySecret";
    const shown = json<Shown>(
      await runCli(["config", "show", "--database-url", queryUrl], { env: baseEnv() }),
    );
    expect(shown.database_url.value).toBe("postgresql://127.0.0.1:1/attune?user=u&password=***");
    const api = json<Shown>(
      await runCli(["config", "show", "--api-url", "https://u:secretpw@a.example.com"], { env: baseEnv() }),
    );
    expect(api.api_url.value).toBe("https://u:***@a.example.com/");
    const failed = await runCli(["pack", "list", "--database-url", queryUrl], {
      env: baseEnv({ ATTUNE_HOME: path.join(t.dir, "pw-home") }),
    });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/^attune: EDATABASE: /);
    expect(failed.stdout + failed.stderr).not.toContain("QuerySecret");
    // a password with a `/` keeps the URL from parsing: hidden all the same, shown and refused
    const slashUrl = "postgresql://postgres:top/SlashSecret@127.0.0.1:5432/x";
    const slash = json<Shown>(
      await runCli(["config", "show", "-o", "json"], { env: baseEnv({ DATABASE_URL: slashUrl }) }),
    );
    expect(slash.database_url.value).toBe("postgresql://postgres:***@127.0.0.1:5432/x");
    for (const argv of [
      ["pack", "list", "--database-url", slashUrl],
      ["pack", "list"],
    ]) {
      const refused = await runCli(argv, {
        env: baseEnv({ ATTUNE_HOME: path.join(t.dir, "pw-home"), DATABASE_URL: slashUrl }),
      });
      expect({ argv, code: refused.code }).toEqual({ argv, code: argv.length > 2 ? 2 : 1 });
      expect(refused.stderr).toContain('"postgresql://postgres:***@127.0.0.1:5432/x" is not a valid URL');
      expect(refused.stdout + refused.stderr).not.toContain("SlashSecret");
    }
  });

  it("defaults apply when nothing is set", async () => {
    const empty = path.join(t.dir, "empty-home");
    const s = json<Shown>(await runCli(["config", "show"], { env: baseEnv({ ATTUNE_HOME: empty }) }));
    expect(s.home).toEqual({ value: empty, source: "env", from: "ATTUNE_HOME" });
    expect(s.database_url).toEqual({ value: `file:${path.join(empty, "attune.db")}`, source: "default" });
    expect(s.packs_dir).toEqual({ value: path.join(empty, "packs"), source: "default" });
    expect(s.mode).toMatchObject({ value: "local" });
    expect(s.token).toEqual({ value: null, source: "default" });
  });

  it("the outbound policy shows what the product will use, env over config.yaml", async () => {
    const env = baseEnv({
      ATTUNE_HOME: home,
      ATTUNE_ALLOW_HTTP: "no",
      ATTUNE_ALLOWED_PRIVATE_HOSTS: "127.0.0.1, localhost",
    });
    const s = json<Shown>(await runCli(["config", "show"], { env }));
    expect(s.allow_http).toEqual({ value: false, source: "env", from: "ATTUNE_ALLOW_HTTP" });
    expect(s.allowed_private_hosts).toEqual({
      value: ["127.0.0.1", "localhost"],
      source: "env",
      from: "ATTUNE_ALLOWED_PRIVATE_HOSTS",
    });
    const bad = await runCli(["config", "show"], { env: { ...env, ATTUNE_ALLOW_HTTP: "maybe" } });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^attune: ECONFIG: ATTUNE_ALLOW_HTTP must be true or false/);
  });

  it("every bad variable is named at once, each with its hint (pack list and config show alike)", async () => {
    const env = baseEnv({
      ATTUNE_HOME: path.join(t.dir, "home-many-bad"),
      ATTUNE_ALLOW_HTTP: "maybe",
      ATTUNE_MAX_PACK_FILES: "many",
      ATTUNE_REGISTRIES: "no-equals",
    });
    for (const args of [
      ["pack", "list"],
      ["config", "show"],
    ]) {
      const r = await runCli(args, { env });
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("");
      const lines = r.stderr.trimEnd().split("\n");
      expect(lines.filter((l) => l.startsWith("attune: ECONFIG: ")).map((l) => l.split(" ")[2])).toEqual([
        "ATTUNE_ALLOW_HTTP",
        "ATTUNE_REGISTRIES:",
        "ATTUNE_MAX_PACK_FILES",
      ]);
      // each problem is followed by its own hint
      expect(lines.length).toBe(6);
      for (let i = 0; i < 6; i += 2) expect(lines[i + 1]).toMatch(/^hint: \S/);
      expect(r.stderr).toContain("hint: e.g. ATTUNE_MAX_PACK_FILES=");
    }
    expect(fs.existsSync(path.join(t.dir, "home-many-bad"))).toBe(false); // nothing was made
  });

  it("a bad config.yaml is named with the environment's bad variables, in every mode", async () => {
    const badHome = path.join(t.dir, "home-bad-file");
    fs.mkdirSync(badHome);
    const file = path.join(badHome, "config.yaml");
    fs.writeFileSync(file, "max_pack_files: lots\n");
    const env = baseEnv({ ATTUNE_HOME: badHome, ATTUNE_ALLOW_HTTP: "maybe", ATTUNE_MAX_FILE_BYTES: "0" });
    for (const args of [
      ["pack", "list"],
      ["config", "show"],
      ["token", "list"],
    ]) {
      const r = await runCli(args, { env });
      expect(r.code).toBe(1);
      expect(r.stderr.split("\n").filter((l) => l.startsWith("attune: ECONFIG: "))).toEqual([
        `attune: ECONFIG: ${file}: max_pack_files: must be a positive whole number of files, got "lots"`,
        'attune: ECONFIG: ATTUNE_ALLOW_HTTP must be true or false, got "maybe"',
        'attune: ECONFIG: ATTUNE_MAX_FILE_BYTES must be a positive whole number of bytes, got "0"',
      ]);
    }
    // alone, the file's problem is reported as before
    const alone = await runCli(["pack", "list"], { env: baseEnv({ ATTUNE_HOME: badHome }) });
    expect(alone.stderr).toMatch(
      /^attune: ECONFIG: .*max_pack_files: must be .*\nhint: fix max_pack_files in /,
    );
  });

  it("size caps show the value in force and where it came from; a bad one is ECONFIG", async () => {
    const env = baseEnv({ ATTUNE_HOME: home, ATTUNE_MAX_FILE_BYTES: "600000000" });
    const s = json<Shown>(await runCli(["config", "show"], { env }));
    expect(s.max_file_bytes).toEqual({ value: 600000000, source: "env", from: "ATTUNE_MAX_FILE_BYTES" });
    expect(s.max_pack_bytes).toEqual({ value: 1024 * 1024 * 1024, source: "default" });
    expect(s.max_pack_files).toEqual({ value: 50000, source: "default" });
    expect(s.max_download_bytes).toEqual({ value: 512 * 1024 * 1024, source: "default" });
    const bad = await runCli(["config", "show"], { env: { ...env, ATTUNE_MAX_PACK_FILES: "many" } });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^attune: ECONFIG: ATTUNE_MAX_PACK_FILES must be a positive whole number/);
  });

  it("an invalid config.yaml is one ECONFIG line naming the key (exit 1)", async () => {
    const bad = path.join(t.dir, "bad-home");
    fs.mkdirSync(bad);
    fs.writeFileSync(path.join(bad, "config.yaml"), "allow_http: maybe\n");
    const r = await runCli(["config", "show"], { env: baseEnv({ ATTUNE_HOME: bad }) });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^attune: ECONFIG: .*allow_http/);
  });

  it("a bad api_url names where it was given: ECONFIG (exit 1) from config.yaml or the environment, EUSAGE (exit 2) typed", async () => {
    const h = path.join(t.dir, "bad-api-url-home");
    fs.mkdirSync(h);
    const file = path.join(h, "config.yaml");
    const env = baseEnv({ ATTUNE_HOME: h });
    const fromFile = `fix api_url in ${file}: the API's http(s) URL, e.g. https://attune.example.com (or remove it for local mode)`;
    const fromEnv =
      "set ATTUNE_API_URL to the API's http(s) URL, e.g. https://attune.example.com (or unset it)";
    for (const [value, message] of [
      ["ftp://x", "must be http(s), got ftp:"],
      ["nope", '"nope" is not a URL'],
      ["https://api.example.com:0", '"https://api.example.com:0" has port 0'],
    ] as const) {
      fs.writeFileSync(file, `api_url: ${value}\n`);
      for (const args of [
        ["registry", "list"],
        ["pack", "list"],
      ]) {
        const r = await runCli(args, { env });
        expect({ args, code: r.code, stderr: r.stderr }).toEqual({
          args,
          code: 1,
          stderr: `attune: ECONFIG: api_url in ${file} ${message}\nhint: ${fromFile}\n`,
        });
      }
      fs.rmSync(file);
      for (const args of [
        ["registry", "list"],
        ["pack", "list"],
      ]) {
        const r = await runCli(args, { env: { ...env, ATTUNE_API_URL: value } });
        expect({ args, code: r.code, stderr: r.stderr }).toEqual({
          args,
          code: 1,
          stderr: `attune: ECONFIG: ATTUNE_API_URL ${message}\nhint: ${fromEnv}\n`,
        });
      }
      // typed, it is a usage error about the flag
      const typed = await runCli(["pack", "list", "--api-url", value], { env });
      expect({ code: typed.code, stderr: typed.stderr }).toEqual({
        code: 2,
        stderr: `attune: EUSAGE: --api-url ${message}\nhint: e.g. --api-url https://attune.example.com\n`,
      });
    }
    fs.writeFileSync(file, "api_url: https://u:secretpw@a.example.com\n");
    const creds = await runCli(["pack", "list"], { env });
    expect({ code: creds.code, stderr: creds.stderr }).toEqual({
      code: 1,
      stderr:
        `attune: ECONFIG: api_url in ${file} must not contain credentials\n` +
        `hint: remove the user name and password from api_url in ${file}; pass the token with --token or ATTUNE_TOKEN\n`,
    });
  });

  it("a bad database_url names where it was given, with a hint to mend it there", async () => {
    const h = path.join(t.dir, "bad-db-url-home");
    fs.mkdirSync(h);
    const file = path.join(h, "config.yaml");
    const env = baseEnv({ ATTUNE_HOME: h });
    const unsupported =
      'unsupported database URL "mysql://x": expected file:<path> (SQLite) or postgresql://…';
    fs.writeFileSync(file, "database_url: mysql://x\n");
    for (const args of [
      ["pack", "list"],
      ["token", "list"],
      ["db", "migrate"],
    ]) {
      const r = await runCli(args, { env });
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({
        args,
        code: 1,
        stderr:
          `attune: ECONFIG: database_url in ${file}: ${unsupported}\n` +
          `hint: fix database_url in ${file}: a file: or postgresql:// URL, e.g. postgresql://user@host:5432/db (or remove it to use the embedded SQLite store)\n`,
      });
    }
    // a problem inside a PostgreSQL URL: the key is named, not DATABASE_URL
    fs.writeFileSync(file, "database_url: postgresql://db.example.com/attune?sslmode=bad\n");
    const ssl = await runCli(["pack", "list"], { env });
    expect(ssl.code).toBe(1);
    expect(ssl.stderr).toBe(
      `attune: ECONFIG: database_url in ${file}: sslmode must be one of disable, prefer, require, verify-ca, verify-full, not "bad"\n` +
        `hint: fix database_url in ${file}: e.g. ?sslmode=verify-full (TLS, certificate and host name checked), or leave it out for no TLS\n`,
    );
    fs.rmSync(file);
    // typed as the flag, the flag is named, as a usage error (like a bad --api-url)
    const flag = await runCli(["pack", "list", "--database-url", "mysql://x"], { env });
    expect({ code: flag.code, stderr: flag.stderr }).toEqual({
      code: 2,
      stderr: `attune: EUSAGE: --database-url: ${unsupported}\nhint: e.g. --database-url postgresql://user@host:5432/db\n`,
    });
    // from the environment: the variable is named first, like a config.yaml key
    const fromEnv = await runCli(["pack", "list"], { env: { ...env, DATABASE_URL: "mysql://x" } });
    expect(fromEnv.code).toBe(1);
    expect(fromEnv.stderr.split("\n")[0]).toBe(`attune: ECONFIG: DATABASE_URL: ${unsupported}`);
    expect(fromEnv.stderr).toMatch(/\nhint: set DATABASE_URL /);
    // a message that already starts with the variable's name is not prefixed again
    const param = await runCli(["pack", "list"], {
      env: { ...env, DATABASE_URL: "postgresql://u@h/db?connect_timeout=abc" },
    });
    expect(param.code).toBe(1);
    expect(param.stderr).toMatch(/^attune: ECONFIG: DATABASE_URL's connect_timeout /);
    // a server that refuses the connection: the hint says to fix the URL where it was given
    const closed = "postgresql://attune@127.0.0.1:1/attune";
    const byFlag = await runCli(["db", "migrate", "--database-url", closed], { env });
    expect(byFlag.code).toBe(1);
    expect(byFlag.stderr).toMatch(/\nhint: start the server, or fix the host and port in --database-url\n$/);
    fs.writeFileSync(file, `database_url: ${closed}\n`);
    const byFile = await runCli(["db", "migrate"], { env });
    expect(byFile.stderr).toContain(
      `hint: start the server, or fix the host and port in database_url in ${file}\n`,
    );
    fs.rmSync(file);
    const byEnv = await runCli(["db", "migrate"], { env: { ...env, DATABASE_URL: closed } });
    expect(byEnv.stderr).toMatch(/\nhint: start the server, or fix the host and port in DATABASE_URL\n$/);
  });

  it("relative paths in config.yaml are anchored at the home, in flags and env at the working directory", async () => {
    const h = path.join(t.dir, "rel-home");
    fs.mkdirSync(h);
    fs.writeFileSync(path.join(h, "config.yaml"), "packs_dir: packs-rel\ndatabase_url: file:db/store.db\n");
    const env = baseEnv({ ATTUNE_HOME: h });
    for (const cwd of [t.dir, h]) {
      const s = json<Shown>(await runCli(["config", "show", "-o", "json"], { env, cwd }));
      expect(s.packs_dir).toMatchObject({ value: path.join(h, "packs-rel"), source: "config" });
      expect(s.database_url).toMatchObject({ value: `file:${path.join(h, "db", "store.db")}` });
    }
    const flag = json<Shown>(
      await runCli(["config", "show", "-o", "json", "--packs-dir", "here"], { env, cwd: t.dir }),
    );
    expect(flag.packs_dir).toMatchObject({ value: path.join(t.dir, "here"), source: "flag" });
  });

  it("a home that cannot be created fails at once, naming it (no endless mkdir under /proc)", async () => {
    fs.writeFileSync(path.join(t.dir, "home-file"), "a file, not a directory\n");
    const cases: Array<[string, RegExp]> = [
      [path.join(t.dir, "home-file", "sub"), /^attune: EIO: .*home-file\/sub/],
    ];
    // procfs answers ENOENT to mkdir: Node's recursive mkdir retried it for ever at full CPU
    if (fs.existsSync("/proc/self"))
      cases.push([
        "/proc/attune-cli-test",
        /^attune: ENOENT: cannot create the (Attune home|packs directory|database directory) \/proc\/attune-cli-test/,
      ]);
    for (const [h, message] of cases) {
      for (const args of [
        ["db", "migrate"],
        ["pack", "install", "examples/packs/hello-world"],
      ]) {
        const r = await runCli(args, { env: baseEnv({ ATTUNE_HOME: h }), timeoutMs: 30_000 });
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(message);
        expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
      }
    }
  });

  it("registry add refuses a bad name as a usage error about the argument, leaving config.yaml alone", async () => {
    const h = path.join(t.dir, "badname-home");
    fs.mkdirSync(h);
    fs.writeFileSync(path.join(h, "config.yaml"), "allow_http: false\n");
    for (const name of ["", "a b", "x/y"]) {
      const r = await runCli(["registry", "add", name, "https://one.example.com/index.json"], {
        env: baseEnv({ ATTUNE_HOME: h }),
      });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^attune: EUSAGE: registry name ".*" is not valid\nhint: use letters/);
    }
    expect(fs.readFileSync(path.join(h, "config.yaml"), "utf8")).toBe("allow_http: false\n");
  });

  it("registry add says at once that this machine's settings refuse the URL (and adds it)", async () => {
    const h = path.join(t.dir, "reg-refused");
    fs.mkdirSync(h);
    const env = baseEnv({ ATTUNE_HOME: h });
    const plain = await runCli(["registry", "add", "plain", "http://registry.example.com/index.json"], {
      env,
    });
    expect(plain.code).toBe(0);
    expect(plain.stderr).toBe(
      "attune: warning: registry plain was added, but its URL is refused by this machine's settings: url: plain http is refused for registry.example.com (use https)\n" +
        "hint: set allow_http: true in config.yaml or ATTUNE_ALLOW_HTTP=true to allow plain http\n",
    );
    const loop = await runCli(["registry", "add", "loop", "https://127.0.0.1:8443/index.json"], { env });
    expect(loop.code).toBe(0);
    expect(loop.stderr).toMatch(
      /^attune: warning: registry loop was added, but .*127\.0\.0\.1 is refused: .*\nhint: add the host to allowed_private_hosts/,
    );
    // allowed, or quiet, or a local index: nothing said
    const allowed = await runCli(["registry", "add", "plain2", "http://registry.example.com/i.json"], {
      env: { ...env, ATTUNE_ALLOW_HTTP: "true" },
    });
    expect({ code: allowed.code, stderr: allowed.stderr }).toEqual({ code: 0, stderr: "" });
    const quiet = await runCli(["registry", "add", "plain3", "http://registry.example.com/j.json", "-q"], {
      env,
    });
    expect({ code: quiet.code, stderr: quiet.stderr }).toEqual({ code: 0, stderr: "" });
    const local = await runCli(["registry", "add", "local", path.join(h, "index.json")], { env });
    expect({ code: local.code, stderr: local.stderr }).toEqual({ code: 0, stderr: "" });
    const names = json<Array<{ name: string }>>(await runCli(["registry", "list"], { env })).map(
      (r) => r.name,
    );
    expect(names).toEqual(["plain", "loop", "plain2", "plain3", "local"]);
  });

  it("concurrent registry adds all land, and comments in config.yaml survive the edits", async () => {
    const h = path.join(t.dir, "reg-concurrent");
    fs.mkdirSync(h);
    fs.writeFileSync(path.join(h, "config.yaml"), "# written by hand\nallow_http: false # keep\n");
    const env = baseEnv({ ATTUNE_HOME: h });
    const names = ["p1", "p2", "p3", "p4"];
    const runs = await Promise.all(
      names.map((n) => runCli(["registry", "add", n, `https://${n}.example.com/index.json`], { env })),
    );
    expect(runs.map((r) => r.code)).toEqual([0, 0, 0, 0]);
    const list = json<Array<{ name: string }>>(await runCli(["registry", "list"], { env }));
    expect(list.map((x) => x.name).sort()).toEqual(names);
    expect(fs.readFileSync(path.join(h, "config.yaml"), "utf8")).toMatch(
      /^# written by hand\nallow_http: false # keep\nregistries:\n/,
    );
    // a secret query value of a registry's URL is never printed (the file keeps it)
    const secret = await runCli(
      ["registry", "add", "sec", "https://sec.example.com/i.json?token=REGSECRET"],
      {
        env,
      },
    );
    expect(secret.code).toBe(0);
    const shown = await runCli(["registry", "list", "-o", "yaml"], { env });
    expect(secret.stdout + shown.stdout).not.toContain("REGSECRET");
    expect(shown.stdout).toContain("https://sec.example.com/i.json?token=***");
  });

  it("registry add/remove edit config.yaml and keep other keys", async () => {
    const h = path.join(t.dir, "reg-home");
    const env = baseEnv({ ATTUNE_HOME: h });
    expect(
      (await runCli(["registry", "add", "one", "https://one.example.com/index.json"], { env })).code,
    ).toBe(0);
    expect(
      (
        await runCli(["registry", "add", "two", "https://two.example.com/index.json", "--priority", "5"], {
          env,
        })
      ).code,
    ).toBe(0);
    const list = json<Array<{ name: string; priority: number }>>(await runCli(["registry", "list"], { env }));
    expect(list.map((x) => x.name)).toEqual(["two", "one"]);
    // without --priority: after every other one, never past what --priority takes (a tie searches
    // the new one last: it is added at the end of config.yaml)
    const top = path.join(t.dir, "reg-top");
    const topEnv = baseEnv({ ATTUNE_HOME: top });
    for (const [name, extra] of [
      ["a", ["--priority", "999999995"]],
      ["b", []],
      ["c", []],
    ] as const)
      expect(
        (
          await runCli(["registry", "add", name, `https://${name}.example.com/i.json`, ...extra], {
            env: topEnv,
          })
        ).code,
      ).toBe(0);
    const topList = json<Array<{ name: string; priority: number }>>(
      await runCli(["registry", "list"], { env: topEnv }),
    );
    expect(topList.map((x) => [x.name, x.priority])).toEqual([
      ["a", 999999995],
      ["b", 999999999],
      ["c", 999999999],
    ]);
    const dup = await runCli(["registry", "add", "one", "https://x.example.com/i.json"], { env });
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/^attune: ECONFLICT: /);
    // --priority takes a plain whole number (not 0x10, 1e3, an empty value or one config.yaml cannot hold)
    for (const p of ["0x10", "1e3", "", "-1", "1.5", "99999999999999999999"]) {
      const bad = await runCli(
        ["registry", "add", "three", "https://x.example.com/i.json", `--priority=${p}`],
        {
          env,
        },
      );
      expect({ p, code: bad.code }).toEqual({ p, code: 2 });
      expect(bad.stderr).toContain(
        `--priority must be a whole number from 0 to 999999999, not ${JSON.stringify(p)}`,
      );
    }
    // a bad URL is a usage error about the argument (exit 2), like a bad name; nothing is written
    for (const [url, said] of [
      ["not a url", /is neither an http\(s\) URL, a file: URL nor an absolute path/],
      ["relative/index.json", /is neither an http\(s\) URL, a file: URL nor an absolute path/],
      ["ftp://x.example/i.json", /is neither an http\(s\) URL, a file: URL nor an absolute path/],
      ["https://u:p@x.example/i.json", /must not contain a user name or password/],
      ["file://otherhost/tmp/x.json", /is a file: URL naming another host/],
      ["file:rel.json", /is a relative file: URL/],
    ] as const) {
      const badUrl = await runCli(["registry", "add", "three", url], { env });
      expect(badUrl.code).toBe(2);
      expect(badUrl.stderr).toMatch(/^attune: EINVALID_INPUT: registry url /);
      expect(badUrl.stderr).toMatch(said);
    }
    // an absolute path to a local index is accepted, as in config.yaml and ATTUNE_REGISTRIES
    for (const url of [
      "/srv/attune/index.json",
      "file:///srv/attune/index.json",
      "file:/srv/attune/index.json",
    ]) {
      const local = await runCli(["registry", "add", "three", url, "-o", "json"], { env });
      expect(local.code).toBe(0);
      expect(json<{ url: string }>(local).url).toBe(url);
      expect((await runCli(["registry", "remove", "three"], { env })).code).toBe(0);
    }
    expect((await runCli(["registry", "remove", "one"], { env })).code).toBe(0);
    const gone = await runCli(["registry", "remove", "one"], { env });
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^attune: ENOTFOUND: /);
    const file = YAML.parse(fs.readFileSync(path.join(h, "config.yaml"), "utf8")) as {
      registries: Array<{ name: string }>;
    };
    expect(file.registries.map((x) => x.name)).toEqual(["two"]);
    const fromEnv = json<Array<{ name: string; source: string }>>(
      await runCli(["registry", "list"], {
        env: { ...env, ATTUNE_REGISTRIES: "a=https://a.example/i.json,b=https://b.example/i.json" },
      }),
    );
    expect(fromEnv.map((x) => [x.name, x.source])).toEqual([
      ["a", "env"],
      ["b", "env"],
    ]);
  });

  it("a config.yaml that repeats a registry name is refused, naming it, and `registry remove` mends it", async () => {
    const h = path.join(t.dir, "dup-home");
    fs.mkdirSync(h);
    fs.writeFileSync(
      path.join(h, "config.yaml"),
      "# kept\nregistries:\n  - {name: main, url: https://a.example/i.json}\n" +
        "  - {name: other, url: https://b.example/i.json}\n  - {name: main, url: https://c.example/i.json}\n",
    );
    const env = baseEnv({ ATTUNE_HOME: h });
    const refused = await runCli(["registry", "list"], { env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('registries[2].name: registry name "main" is used twice');
    expect(refused.stderr).toContain("or remove them all with `attune registry remove main`");
    const removed = await runCli(["registry", "remove", "main", "-o", "json"], { env });
    expect({ code: removed.code, stderr: removed.stderr }).toEqual({ code: 0, stderr: "" });
    const text = fs.readFileSync(path.join(h, "config.yaml"), "utf8");
    expect(text).toContain("# kept");
    expect(
      (YAML.parse(text) as { registries: Array<{ name: string }> }).registries.map((r) => r.name),
    ).toEqual(["other"]);
    const listed = json<Array<{ name: string }>>(await runCli(["registry", "list", "-o", "json"], { env }));
    expect(listed.map((r) => r.name)).toEqual(["other"]);
  });
});

describe("allow_http applies to the API URL as config show reports it", () => {
  const t = tmpDir("attune-cli-allow-http-");
  const home = path.join(t.dir, "home");
  const file = path.join(home, "config.yaml");
  fs.mkdirSync(home);
  // a stand-in API on 127.0.0.2: a loopback address, but not one the CLI lets plain http reach
  // without allow_http (only localhost, 127.0.0.1 and [::1] are exempt)
  let server: http.Server;
  let url: string;
  beforeAll(async () => {
    server = http.createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"data":[],"pagination":{"total_pages":1}}');
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.2", resolve));
    url = `http://127.0.0.2:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    t.cleanup();
  });
  const run = (env: Record<string, string> = {}) =>
    runCli(["pack", "list", "--api-url", url, "--token", "att_x", "-o", "json"], {
      env: baseEnv({ ATTUNE_HOME: home, ...env }),
    });
  const refusal = (how: string) =>
    "attune: EPOLICY: refusing plain http to " +
    `${new URL(url).host}: the API token and the answers would cross the network in clear\n` +
    `hint: use an https:// API URL, or on a trusted network ${how}\n`;

  it("without it, plain http is refused, the hint naming both ways to allow it", async () => {
    const r = await run();
    expect({ code: r.code, stderr: r.stderr }).toEqual({
      code: 1,
      stderr: refusal(`set ATTUNE_ALLOW_HTTP=true or allow_http: true in ${file}`),
    });
  });

  it("allow_http: true in config.yaml lets it through, like ATTUNE_ALLOW_HTTP=true", async () => {
    fs.writeFileSync(file, "allow_http: true\n");
    const shown = json<Record<string, { value: unknown; source: string }>>(
      await runCli(["config", "show", "-o", "json"], { env: baseEnv({ ATTUNE_HOME: home }) }),
    );
    expect(shown.allow_http).toMatchObject({ value: true, source: "config" });
    const r = await run();
    expect({ code: r.code, stderr: r.stderr, stdout: r.stdout.trim() }).toEqual({
      code: 0,
      stderr: "",
      stdout: "[]",
    });
    // registry list in remote mode asks the same API (it answers an empty list)
    const regs = await runCli(["registry", "list", "--api-url", url, "--token", "att_x", "-o", "json"], {
      env: baseEnv({ ATTUNE_HOME: home }),
    });
    expect({ code: regs.code, stderr: regs.stderr }).toEqual({ code: 0, stderr: "" });
    fs.rmSync(file);
    expect((await run({ ATTUNE_ALLOW_HTTP: "true" })).code).toBe(0);
  });

  it("the environment wins over config.yaml either way, and the hint says where it was refused", async () => {
    fs.writeFileSync(file, "allow_http: true\n");
    const off = await run({ ATTUNE_ALLOW_HTTP: "false" });
    expect({ code: off.code, stderr: off.stderr }).toEqual({
      code: 1,
      stderr: refusal(`set ATTUNE_ALLOW_HTTP=true (it is "false", which wins over allow_http in ${file})`),
    });
    fs.writeFileSync(file, "allow_http: false\n");
    expect((await run({ ATTUNE_ALLOW_HTTP: "yes" })).code).toBe(0);
    const denied = await run();
    expect(denied.stderr).toBe(refusal(`set allow_http: true in ${file} (or ATTUNE_ALLOW_HTTP=true)`));
    // a value that is neither true nor false is refused as the outbound policy refuses it
    const bad = await run({ ATTUNE_ALLOW_HTTP: "maybe" });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^attune: ECONFIG: ATTUNE_ALLOW_HTTP must be true or false, got "maybe"/);
    expect(bad.stderr).toMatch(
      /\nhint: e\.g\. ATTUNE_ALLOW_HTTP=true \(also 1, yes, on; false, 0, no, off\)/,
    );
    fs.rmSync(file);
  });
});

describe("config.yaml errors name the file's path and the key, with a hint to mend it", () => {
  const t = tmpDir("attune-cli-config-errors-");
  afterAll(() => t.cleanup());

  it.each([
    [
      "max_file_bytes: -5\n",
      "max_file_bytes: must be a positive whole number of bytes, got -5",
      "fix max_file_bytes in FILE: e.g. max_file_bytes: 536870912 (the default is 268435456; remove the key for it)",
    ],
    [
      "packs_dir: 5\n",
      "packs_dir: must be a string, got 5",
      "fix packs_dir in FILE: e.g. packs_dir: /srv/attune/packs (a directory, relative to the home; quote one that reads as a number)",
    ],
    [
      "allow_http: yes\n",
      'allow_http: must be true or false, got "yes"',
      "fix allow_http in FILE: e.g. allow_http: true (or false; YAML's yes/no and quoted words are not booleans here)",
    ],
    [
      "allowed_private_hosts: [10.0.0.0/8]\n",
      'allowed_private_hosts[0]: "10.0.0.0/8" is an address range (CIDR ranges are not supported)',
      "fix allowed_private_hosts[0] in FILE: list host names or IP addresses alone, without scheme, port or /prefix (e.g. 127.0.0.1, ::1, registry.internal); each address of a range must be listed",
    ],
    // the token's value is never quoted, whatever it is
    [
      "token: 12345\n",
      "token: must be a string",
      'fix token in FILE: e.g. token: "att_…" (quoted; or leave it out and pass --token or ATTUNE_TOKEN)',
    ],
  ])("%j", async (text, message, hint) => {
    const home = fs.mkdtempSync(path.join(t.dir, "home-"));
    const file = path.join(home, "config.yaml");
    fs.writeFileSync(file, text);
    for (const args of [
      ["pack", "list"],
      ["config", "show"],
    ]) {
      const r = await runCli(args, { env: baseEnv({ ATTUNE_HOME: home }) });
      expect({ args, code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({
        args,
        code: 1,
        stdout: "",
        stderr: `attune: ECONFIG: ${file}: ${message}\nhint: ${hint.replace("FILE", file)}\n`,
      });
    }
  });
});

describe("ATTUNE_IO_THREADS", () => {
  const t = tmpDir("attune-cli-io-threads-");
  afterAll(() => t.cleanup());
  const example = path.join(REPO_ROOT, "examples", "packs", "hello-world");

  it("takes 0, 1 or nothing; anything else is ECONFIG naming the variable before any command runs", async () => {
    const env = (v: string) => baseEnv({ ATTUNE_HOME: path.join(t.dir, "home"), ATTUNE_IO_THREADS: v });
    for (const v of ["0", "1", ""]) {
      const r = await runCli(["pack", "checksum", example, "-o", "json"], { env: env(v) });
      expect({ v, code: r.code, stderr: r.stderr }).toEqual({ v, code: 0, stderr: "" });
    }
    for (const v of ["abc", "off", "false", " 0", "2"]) {
      // the plain `pack checksum` (no parser) and a command through the parser alike
      for (const args of [
        ["pack", "checksum", example],
        ["pack", "list"],
      ]) {
        const r = await runCli(args, { env: env(v) });
        expect({ v, args, code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({
          v,
          args,
          code: 1,
          stdout: "",
          stderr:
            `attune: ECONFIG: ATTUNE_IO_THREADS must be 0 (all file I/O on the main thread) or 1 (the default: helper threads), not ${JSON.stringify(v)}\n` +
            "hint: set ATTUNE_IO_THREADS=0 to turn the helper threads off, or unset it\n",
        });
      }
    }
    // nothing was created by the refused commands
    expect(fs.existsSync(path.join(t.dir, "home"))).toBe(false);
  });
});
