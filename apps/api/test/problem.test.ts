import { fileURLToPath } from "node:url";
import path from "node:path";
import os from "node:os";
import { describe, expect, it } from "@jest/globals";
import { AttuneError, ErrorCodes } from "@attune/pack-storage";
import { scrubPaths, statusForCode } from "../src/http/problem";
import {
  effectiveLocalSourceRoots,
  readApiConfig,
  readStartupConfig,
  startupErrorLines,
} from "../src/config";

describe("error code -> HTTP status", () => {
  it("maps every library code as docs/CONTRACTS.md says", () => {
    const expected: Record<string, number> = {
      EINTEGRITY: 422,
      EIO: 500,
      ENOENT: 404,
      EINVALID_REF: 400,
      EINVALID_VERSION: 400,
      EINVALID_CHECKSUM: 400,
      ESYMLINK: 400,
      ESPECIAL_FILE: 400,
      EBAD_FILENAME: 400,
      ECHANGED: 500,
      EINVALID_INPUT: 400,
      EMANIFEST: 400,
      EINDEX: 400,
      EUNSAFE_ARCHIVE: 400,
      ETOO_LARGE: 413,
      EPOLICY: 400,
      EFETCH: 502,
      ETIMEOUT: 504,
      ENOTFOUND: 404,
      ECONFLICT: 409,
      EDEPENDENCY: 409,
      ELOCKED: 409,
      EUNAUTHORIZED: 401,
      EFORBIDDEN: 403,
      ECONFIG: 400,
      EDATABASE: 500,
      EABORTED: 503,
    };
    // a code added to the library without a decision here fails this test
    expect(Object.keys(ErrorCodes).sort()).toEqual(Object.keys(expected).sort());
    for (const [code, status] of Object.entries(expected))
      expect([code, statusForCode(code)]).toEqual([code, status]);
  });

  it("ENOENT about a request field is the caller's mistake (400); unknown codes are 500", () => {
    expect(statusForCode("ENOENT", "source")).toBe(400);
    // a source path the server may not read (the library names the field) is too; any other EIO is not
    expect(statusForCode("EIO", "source")).toBe(400);
    expect(statusForCode("EIO")).toBe(500);
    expect(statusForCode("ESOMETHING_NEW")).toBe(500);
  });

  it("scrubs server directories out of messages, longest root first", () => {
    const msg = "pack.yaml missing in /srv/attune/home/packs/.staging-1/x and /srv/attune/home/config.yaml";
    expect(scrubPaths(msg, ["/srv/attune/home", "/srv/attune/home/packs"])).toBe(
      "pack.yaml missing in <server>/.staging-1/x and <server>/config.yaml",
    );
  });

  it("leaves the client's own paths alone: whole components only, and only our temp entries", () => {
    const tmp = os.tmpdir();
    const msg = `source ${tmp}/mine/pack: no such file; /srv/attune/homework/x; ${tmp}/attune-download-1/p.tgz`;
    expect(scrubPaths(msg, ["/srv/attune/home"])).toBe(
      `source ${tmp}/mine/pack: no such file; /srv/attune/homework/x; <server>/attune-download-1/p.tgz`,
    );
  });
});

describe("readApiConfig", () => {
  it("defaults: port 8080, host 127.0.0.1, no local source roots, 64 KiB bodies", () => {
    const c = readApiConfig({ ATTUNE_HOME: "/h" });
    expect(c).toMatchObject({
      port: 8080,
      host: "127.0.0.1",
      home: "/h",
      localSourceRoots: [],
      bodyLimit: 65536,
    });
  });

  it("splits ATTUNE_LOCAL_SOURCE_ROOTS on the path delimiter and resolves each", () => {
    const c = readApiConfig({ ATTUNE_HOME: "/h", ATTUNE_LOCAL_SOURCE_ROOTS: "/tmp::/usr/../var" });
    expect(c.localSourceRoots).toEqual(["/tmp", "/var"]);
  });

  it("refuses a root that is relative or no existing directory, and a blank home or packs dir, naming each", () => {
    let err: { message?: string } | undefined;
    try {
      readApiConfig({
        ATTUNE_LOCAL_SOURCE_ROOTS: `relative/dir:/nonexistent/attune-root:${__filenameOf()}`,
        ATTUNE_HOME: " ",
        ATTUNE_PACKS_DIR: "  ",
      });
    } catch (e) {
      err = e as { message?: string };
    }
    expect(err?.message).toContain('ATTUNE_LOCAL_SOURCE_ROOTS: "relative/dir" is relative');
    expect(err?.message).toContain(
      'ATTUNE_LOCAL_SOURCE_ROOTS: "/nonexistent/attune-root" is not an existing directory',
    );
    expect(err?.message).toContain("is not an existing directory");
    expect(err?.message).toContain('ATTUNE_HOME is blank (" ")');
    expect(err?.message).toContain('ATTUNE_PACKS_DIR is blank ("  ")');
  });

  it("local source roots: the environment's when set (even empty), else config.yaml's, anchored at the home", () => {
    const fromFile = { local_source_roots: ["packs-in", "/srv/abs"] };
    const unset = readApiConfig({ ATTUNE_HOME: "/h" });
    expect(effectiveLocalSourceRoots(unset, fromFile)).toEqual(["/h/packs-in", "/srv/abs"]);
    expect(effectiveLocalSourceRoots(unset, {})).toEqual([]);
    const set = readApiConfig({ ATTUNE_HOME: "/h", ATTUNE_LOCAL_SOURCE_ROOTS: "/usr" });
    expect(effectiveLocalSourceRoots(set, fromFile)).toEqual(["/usr"]);
    const empty = readApiConfig({ ATTUNE_HOME: "/h", ATTUNE_LOCAL_SOURCE_ROOTS: "" });
    expect(effectiveLocalSourceRoots(empty, fromFile)).toEqual([]);
  });

  it("an empty DATABASE_URL, ATTUNE_HOME or ATTUNE_PACKS_DIR means unset, as in the CLI", () => {
    const c = readApiConfig({ ATTUNE_HOME: "", DATABASE_URL: "", ATTUNE_PACKS_DIR: "" });
    expect(c).toMatchObject({
      home: path.join(os.homedir(), ".attune"),
      databaseUrl: undefined,
      packsDir: undefined,
    });
  });

  it("names the bad variable", () => {
    expect(() => readApiConfig({ PORT: "http" })).toThrow(/PORT/);
    expect(() => readApiConfig({ PORT: "70000" })).toThrow(/PORT/);
    expect(() => readApiConfig({ LOG_LEVEL: "loud" })).toThrow(/LOG_LEVEL/);
  });

  /** the ECONFIG readApiConfig throws for `env` (it must throw) */
  function refusal(env: NodeJS.ProcessEnv): AttuneError {
    try {
      readApiConfig(env);
    } catch (e) {
      if (e instanceof AttuneError) return e;
      throw e;
    }
    throw new Error(`accepted ${JSON.stringify(env)}`);
  }

  // each: the variable, the value it had (quoted), what it must be; the hint says how to set it
  it.each([
    [
      "PORT",
      "abc",
      /^PORT must be a port number from 0 to 65535, got "abc"$/,
      /^set PORT to .*0 to pick a free port.*8080/,
    ],
    ["PORT", "0x50", /got "0x50"$/, /^set PORT/],
    ["PORT", "65536", /got "65536"$/, /^set PORT/],
    ["PORT", "-1", /got "-1"$/, /^set PORT/],
    [
      "ATTUNE_API_BODY_LIMIT",
      "1k",
      /^ATTUNE_API_BODY_LIMIT must be a number of bytes from 1024 to 16777216, got "1k"$/,
      /65536/,
    ],
    ["ATTUNE_API_BODY_LIMIT", "100", /got "100"$/, /^set ATTUNE_API_BODY_LIMIT/],
    [
      "ATTUNE_API_DRAIN_TIMEOUT_MS",
      "1e3",
      /^ATTUNE_API_DRAIN_TIMEOUT_MS must be a number of milliseconds from 0 to 600000, got "1e3"$/,
      /30000/,
    ],
    [
      "ATTUNE_API_TOKEN_CACHE_MS",
      "5s",
      /^ATTUNE_API_TOKEN_CACHE_MS must be a number of milliseconds from 0 to 300000, got "5s"$/,
      /0 to ask the database on every request/,
    ],
    [
      "LOG_LEVEL",
      "loud",
      /^LOG_LEVEL must be fatal, error, warn, info, debug, trace or silent, got "loud"$/,
      /^set LOG_LEVEL .*info$/,
    ],
    [
      "ATTUNE_IO_THREADS",
      "2",
      /^ATTUNE_IO_THREADS must be 0 \(all file I\/O on the main thread\) or 1 \(the default: helper threads\), not "2"$/,
      /^set ATTUNE_IO_THREADS=0 to turn the helper threads off, or unset it$/,
    ],
    ["ATTUNE_IO_THREADS", "off", /not "off"$/, /^set ATTUNE_IO_THREADS=0/],
    // the libraries compare with "0" exactly: " 0" would leave the threads on, so it is refused
    ["ATTUNE_IO_THREADS", " 0", /not " 0"$/, /^set ATTUNE_IO_THREADS=0/],
  ])("%s=%j -> ECONFIG naming it, the value and the fix", (name, value, message, hint) => {
    const err = refusal({ [name]: value });
    expect(err.code).toBe("ECONFIG");
    expect(err.message).toMatch(message);
    expect(err.hint).toMatch(hint);
    expect(err.details).toMatchObject({ field: name, problems: [{ field: name }] });
  });

  it("reports every bad variable at once, one start-up line each", () => {
    const err = refusal({ PORT: "x", LOG_LEVEL: "y", ATTUNE_IO_THREADS: "yes" });
    expect((err.details?.problems as Array<{ field: string }>).map((p) => p.field)).toEqual([
      "PORT",
      "LOG_LEVEL",
      "ATTUNE_IO_THREADS",
    ]);
    const lines = startupErrorLines(err, {});
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(
      /^attune-api: cannot start: ECONFIG PORT must be a port number from 0 to 65535, got "x" \(set PORT to /,
    );
    expect(lines[2]).toMatch(
      /^attune-api: cannot start: ECONFIG ATTUNE_IO_THREADS must be 0 .*, not "yes" \(set ATTUNE_IO_THREADS=0 /,
    );
  });

  it("accepts what the libraries understand: ATTUNE_IO_THREADS 0, 1 or empty; an empty variable means unset", () => {
    for (const v of ["0", "1", ""]) expect(() => readApiConfig({ ATTUNE_IO_THREADS: v })).not.toThrow();
    expect(
      readApiConfig({
        PORT: "",
        HOST: "",
        LOG_LEVEL: "",
        ATTUNE_API_BODY_LIMIT: "",
        ATTUNE_API_DRAIN_TIMEOUT_MS: "",
        ATTUNE_API_TOKEN_CACHE_MS: "",
      }),
    ).toMatchObject({
      port: 8080,
      host: "127.0.0.1",
      logLevel: "info",
      bodyLimit: 65536,
      drainTimeoutMs: 30000,
      tokenCacheMs: 5000,
    });
    expect(readApiConfig({ PORT: " 0 ", LOG_LEVEL: "DEBUG", ATTUNE_API_TOKEN_CACHE_MS: "0" })).toMatchObject({
      port: 0,
      logLevel: "debug",
      tokenCacheMs: 0,
    });
  });

  it("a library's refusal of a variable it read is named by that variable, with a hint if it had none", () => {
    const allowHttp = new AttuneError(
      ErrorCodes.ECONFIG,
      'ATTUNE_ALLOW_HTTP must be true or false, got "maybe"',
      {
        details: { field: "ATTUNE_ALLOW_HTTP" },
      },
    );
    expect(startupErrorLines(allowHttp, { ATTUNE_ALLOW_HTTP: "maybe" })).toEqual([
      'attune-api: cannot start: ECONFIG ATTUNE_ALLOW_HTTP must be true or false, got "maybe" (fix or unset ATTUNE_ALLOW_HTTP)',
    ]);
    const dbUrl = new AttuneError(ErrorCodes.ECONFIG, 'unsupported database URL "mysql://x"', {
      details: { field: "DATABASE_URL" },
      hint: "set DATABASE_URL to postgresql://…",
    });
    expect(startupErrorLines(dbUrl, { DATABASE_URL: "mysql://x" })).toEqual([
      'attune-api: cannot start: ECONFIG DATABASE_URL: unsupported database URL "mysql://x" (set DATABASE_URL to postgresql://…)',
    ]);
    // anything else is shown as it is
    expect(startupErrorLines(Object.assign(new Error("listen EADDRINUSE"), { code: "EADDRINUSE" }))).toEqual([
      "attune-api: cannot start: EADDRINUSE listen EADDRINUSE",
    ]);
  });
});

/** A path that exists but is a file, not a directory (this test file). */
function __filenameOf(): string {
  return fileURLToPath(import.meta.url);
}

describe("readStartupConfig: the server's variables and the libraries' in one report", () => {
  const home = path.join(os.tmpdir(), "attune-startup-config-never-made");
  const fields = async (env: NodeJS.ProcessEnv) =>
    readStartupConfig(env).then(
      () => null,
      (e: AttuneError) => ({
        code: e.code,
        fields: ((e.details?.problems ?? [{ field: e.details?.field }]) as Array<{ field: string }>).map(
          (p) => p.field,
        ),
      }),
    );

  it("adds the libraries' bad variables to the server's own", async () => {
    expect(
      await fields({ ATTUNE_HOME: home, PORT: "x", ATTUNE_ALLOW_HTTP: "maybe", ATTUNE_MAX_PACK_FILES: "0" }),
    ).toEqual({
      code: "ECONFIG",
      fields: ["PORT", "ATTUNE_ALLOW_HTTP", "ATTUNE_MAX_PACK_FILES"],
    });
  });

  it("leaves the libraries' alone while the home itself is bad (they are read from it)", async () => {
    expect(await fields({ ATTUNE_HOME: "   ", ATTUNE_ALLOW_HTTP: "maybe" })).toEqual({
      code: "ECONFIG",
      fields: ["ATTUNE_HOME"],
    });
  });

  it("accepts the server's variables when only the libraries' are bad (openInstaller reports those)", async () => {
    const config = await readStartupConfig({ ATTUNE_HOME: home, ATTUNE_ALLOW_HTTP: "maybe" });
    expect(config.home).toBe(home);
  });
});
