import path from "node:path";
import os from "node:os";
import { describe, expect, it } from "@jest/globals";
import { ErrorCodes } from "@attune/pack-storage";
import { scrubPaths, statusForCode } from "../src/http/problem";
import { effectiveLocalSourceRoots, readApiConfig } from "../src/config";

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
    const c = readApiConfig({ ATTUNE_HOME: "/h", ATTUNE_LOCAL_SOURCE_ROOTS: "/a/b::/c/../d" });
    expect(c.localSourceRoots).toEqual(["/a/b", "/d"]);
  });

  it("local source roots: the environment's when set (even empty), else config.yaml's, anchored at the home", () => {
    const fromFile = { local_source_roots: ["packs-in", "/srv/abs"] };
    const unset = readApiConfig({ ATTUNE_HOME: "/h" });
    expect(effectiveLocalSourceRoots(unset, fromFile)).toEqual(["/h/packs-in", "/srv/abs"]);
    expect(effectiveLocalSourceRoots(unset, {})).toEqual([]);
    const set = readApiConfig({ ATTUNE_HOME: "/h", ATTUNE_LOCAL_SOURCE_ROOTS: "/only" });
    expect(effectiveLocalSourceRoots(set, fromFile)).toEqual(["/only"]);
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
});
