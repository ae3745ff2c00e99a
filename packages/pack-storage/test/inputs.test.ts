// Bad arguments at the public entry points, and what errors say (hints, long paths, odd names).
import { describe, expect, it } from "@jest/globals";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  calculateDirectoryChecksum,
  calculateDirectoryManifest,
  calculateFileChecksum,
  compareTreePaths,
  diffManifest,
  ioError,
  ioHint,
  PackStorage,
  verifyChecksum,
} from "../src/index";
import { shortPath } from "../src/short-path";
import { escapeName } from "../src/checksum/walk";
import { perTestCleanup, rejection, tmp, writeTree } from "./helpers";

const EMPTY = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const here = path.dirname(fileURLToPath(import.meta.url));

const perTest = perTestCleanup();
const dir = perTest.tree;

describe("path arguments are checked at each entry point (EINVALID_INPUT naming the argument)", () => {
  const cases: Array<[string, unknown, string]> = [
    ["empty", "", "is empty: a path is required"],
    ["undefined", undefined, "must be a path (a string), got undefined"],
    ["a number", 123, "must be a path (a string), got number 123"],
    ["NUL", "/etc/passwd\0", '"/etc/passwd\\u0000" contains a NUL byte, which no path can hold'],
  ];
  const entries: Array<[string, string, (p: unknown) => Promise<unknown>]> = [
    ["calculateDirectoryChecksum", "dir", (p) => calculateDirectoryChecksum(p as string)],
    ["calculateDirectoryManifest", "dir", (p) => calculateDirectoryManifest(p as string)],
    ["calculateFileChecksum", "file", (p) => calculateFileChecksum(p as string)],
    ["verifyChecksum", "path", (p) => verifyChecksum(p as string, EMPTY)],
  ];
  for (const [entry, field, call] of entries) {
    it.each(cases)(`${entry}: %s`, async (_name, value, says) => {
      const err = (await rejection(call(value))) as Error & { code: string; hint?: string; details?: object };
      expect(err.code).toBe("EINVALID_INPUT");
      expect(err.message).toBe(`${field} ${says}`);
      expect(err.details).toEqual({ field });
      expect(err.hint).toEqual(expect.stringContaining(field));
    });
  }

  it("never hashes the current directory for an empty path", async () => {
    const cwd = process.cwd();
    const d = dir({ f: "x" });
    process.chdir(d);
    try {
      expect((await rejection(calculateDirectoryChecksum(""))).code).toBe("EINVALID_INPUT");
      expect(await calculateDirectoryChecksum(".")).toBe(await calculateDirectoryChecksum(d));
    } finally {
      process.chdir(cwd);
    }
  });

  it.each(cases)("new PackStorage({ packsDir }): %s", (_name, value, says) => {
    expect(() => new PackStorage({ packsDir: value as string })).toThrow(
      expect.objectContaining({
        code: "EINVALID_INPUT",
        message: `packsDir ${says}`,
        details: { field: "packsDir" },
        hint: expect.stringContaining("packsDir"),
      }),
    );
  });

  it("new PackStorage() without options", () => {
    expect(() => new PackStorage(undefined as unknown as { packsDir: string })).toThrow(
      expect.objectContaining({ code: "EINVALID_INPUT", details: { field: "packsDir" } }),
    );
  });

  it.each(cases)("installPack(stagedDir): %s", async (_name, value, says) => {
    const t = tmp();
    perTest.later(t.cleanup);
    const storage = new PackStorage({ packsDir: path.join(t.dir, "packs") });
    await storage.init();
    const err = (await rejection(storage.installPack(value as string, "core", "1.0.0"))) as Error & {
      code: string;
      details?: object;
    };
    expect(err).toMatchObject({
      code: "EINVALID_INPUT",
      message: `stagedDir ${says}`,
      details: { field: "stagedDir" },
    });
    expect(await storage.isInstalled("core")).toBe(false);
  });
});

describe("hints", () => {
  const sys = (code: string) => Object.assign(new Error(`${code}: some system message`), { code });

  it("a permission error while reading says the files read are unreadable, not that a write failed", () => {
    const read = ioError(sys("EACCES"), "/p/a.txt", "cannot open", "read");
    expect(read.hint).toBe(
      "the user running attune cannot read that file or directory (or search a directory above it): fix its permissions or owner",
    );
    expect(ioHint("EACCES", "read")).toBe(read.hint);
    expect(read.details).toEqual({ syscallCode: "EACCES" });
    // writes (the default) keep the write hint
    expect(ioError(sys("EACCES"), "/x", "cannot write").hint).toBe(
      "this user may not write there: fix the permissions or owner, or use another ATTUNE_HOME",
    );
    expect(ioHint("EACCES", "write")).toBe(ioError(sys("EACCES"), "/x", "cannot write").hint);
    // a code without a read hint falls back to the common one
    expect(ioHint("EMFILE", "read")).toMatch(/^too many open files/);
    expect(ioHint(undefined, "read")).toBeUndefined();
  });

  it("a missing directory or file says to check the path", async () => {
    const d = dir({ f: "x" });
    for (const p of [
      calculateDirectoryChecksum(path.join(d, "nope")),
      calculateFileChecksum(path.join(d, "nope")),
      verifyChecksum(path.join(d, "nope"), EMPTY),
    ]) {
      const err = (await rejection(p)) as Error & { code: string; hint?: string };
      expect(err.code).toBe("ENOENT");
      expect(err.hint).toBe("check the path: nothing is there (or it was moved or deleted meanwhile)");
    }
    expect(await rejection(calculateDirectoryChecksum(path.join(d, "nope")))).toMatchObject({
      message: `cannot read directory ${path.join(d, "nope")}: no such file or directory`,
      path: path.join(d, "nope"),
    });
  });

  it("a file where a directory is wanted, and the reverse, say what to pass", async () => {
    const d = dir({ f: "x" });
    const f = path.join(d, "f");
    expect(await rejection(calculateDirectoryChecksum(f))).toMatchObject({
      code: "EINVALID_INPUT",
      message: `${f} is not a directory`,
      hint: "pass the pack's directory; a single file (an archive) is hashed with calculateFileChecksum or verifyChecksum",
      details: { field: "path" },
    });
    expect(await rejection(calculateFileChecksum(d))).toMatchObject({
      code: "EINVALID_INPUT",
      message: `${d} is a directory, not a file`,
      hint: "pass a file; a pack's directory is hashed with calculateDirectoryChecksum or verifyChecksum",
    });
  });

  it("a tree deeper than PATH_MAX: EIO with a hint, the long path shortened in the message but whole in err.path", async () => {
    const d = dir();
    // build it with relative mkdirs from inside (a path this long cannot be made in one call)
    const name = "d".repeat(200);
    let rel = d;
    for (let i = 0; i < 20; i++) {
      fs.mkdirSync(path.join(rel, name));
      rel = path.join(rel, name);
      if (rel.length > 3000) break;
    }
    execFileSync("sh", [
      "-c",
      `cd "${rel}" && mkdir -p ${Array(8).fill(name).join("/")} && touch ${Array(8).fill(name).join("/")}/f`,
    ]);
    const err = (await rejection(calculateDirectoryChecksum(d))) as Error & {
      code: string;
      hint?: string;
      path?: string;
      details?: Record<string, unknown>;
    };
    expect(err.code).toBe("EIO");
    expect(err.details).toEqual({ syscallCode: "ENAMETOOLONG" });
    expect(err.hint).toMatch(/^the path is longer than the system allows \(PATH_MAX/);
    expect(err.path!.length).toBeGreaterThan(4096);
    expect(err.path!.startsWith(d)).toBe(true);
    expect(err.message.length).toBeLessThan(600);
    expect(err.message).toBe(
      `cannot read directory ${shortPath(err.path!)}: ENAMETOOLONG: name too long, scandir '${shortPath(err.path!)}'`,
    );
    execFileSync("rm", ["-rf", d]); // rmSync cannot reach that deep either
  });

  it("shortPath keeps short paths whole and long ones as start … end", () => {
    expect(shortPath("/a/b")).toBe("/a/b");
    const long = `/start/${"x".repeat(1000)}/end.txt`;
    const shown = shortPath(long);
    expect(shown).toBe(`${long.slice(0, 96)}…${long.slice(-120)}`);
    expect(shown.endsWith("/end.txt")).toBe(true);
  });

  // a real EACCES needs another user: root reads everything
  const canDrop = process.getuid?.() === 0 && spawnSync("setpriv", ["--version"]).status === 0;
  (canDrop ? it : it.skip)(
    "EACCES reading a pack (a file, a subdirectory, and on the helper thread's path) gets the read hint [runs as uid 65534 via setpriv; skipped unless root with setpriv]",
    async () => {
      const t = tmp();
      perTest.later(t.cleanup);
      fs.chmodSync(t.dir, 0o755);
      const files: Record<string, string> = { "a.txt": "a" };
      for (let i = 0; i < 1200; i++) files[`many/f${String(i).padStart(4, "0")}`] = `${i}`;
      const fileCase = writeTree(path.join(t.dir, "file"), { "a.txt": "a", "secret.txt": "s" });
      const dirCase = writeTree(path.join(t.dir, "dir"), { "a.txt": "a", "sub/x": "x" });
      const manyCase = writeTree(path.join(t.dir, "many"), files);
      execFileSync("chmod", ["-R", "a+rX", t.dir]);
      fs.chmodSync(path.join(fileCase, "secret.txt"), 0o000);
      fs.chmodSync(path.join(dirCase, "sub"), 0o000);
      fs.chmodSync(path.join(manyCase, "many/f1100"), 0o000);
      const dist = path.join(here, "../dist/index.js");
      const script = `const m = await import(${JSON.stringify(dist)});
        const out = [];
        for (const d of process.argv.slice(1)) {
          try { await m.calculateDirectoryManifest(d); out.push(null); }
          catch (e) { out.push({ code: e.code, message: e.message, hint: e.hint, path: e.path, details: e.details }); }
        }
        process.stdout.write(JSON.stringify(out));`;
      const r = spawnSync(
        "setpriv",
        [
          "--reuid=65534",
          "--regid=65534",
          "--clear-groups",
          process.execPath,
          "--input-type=module",
          "-e",
          script,
          fileCase,
          dirCase,
          manyCase,
        ],
        { encoding: "utf8" },
      );
      expect(r.stderr).toBe("");
      const hint =
        "the user running attune cannot read that file or directory (or search a directory above it): fix its permissions or owner";
      const [file, sub, many] = JSON.parse(r.stdout);
      expect(file).toEqual({
        code: "EIO",
        message: expect.stringMatching(
          new RegExp(`^cannot open ${path.join(fileCase, "secret.txt")}: EACCES`),
        ),
        hint,
        path: path.join(fileCase, "secret.txt"),
        details: { syscallCode: "EACCES" },
      });
      expect(sub).toMatchObject({
        code: "EIO",
        message: expect.stringMatching(
          new RegExp(`^cannot read directory ${path.join(dirCase, "sub")}: EACCES`),
        ),
        hint,
        path: path.join(dirCase, "sub"),
      });
      expect(many).toMatchObject({ code: "EIO", hint, path: path.join(manyCase, "many/f1100") });
    },
  );
});

describe("names that are not UTF-8", () => {
  it("are shown escaped (\\xNN), not decoded as Latin-1; details keep the hex", async () => {
    const d = dir({ "ok.txt": "x" });
    fs.writeFileSync(
      Buffer.concat([Buffer.from(`${d}/bad`), Buffer.from([0xff, 0xfe]), Buffer.from("name")]),
      "x",
    );
    const err = (await rejection(calculateDirectoryChecksum(d))) as Error & {
      code: string;
      path?: string;
      hint?: string;
      details?: object;
    };
    expect(err).toMatchObject({
      code: "EBAD_FILENAME",
      message: `${d}/bad\\xff\\xfename has a name that is not valid UTF-8`,
      path: `${d}/bad\\xff\\xfename`,
      hint: "rename the file so its name is UTF-8",
      details: { nameHex: Buffer.from("bad\xff\xfename", "latin1").toString("hex") },
    });
  });

  it("escapeName: invalid bytes, control characters and backslashes escaped; valid UTF-8 kept", () => {
    const b = (...parts: Array<string | number[]>) =>
      Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "utf8") : Buffer.from(p))));
    expect(escapeName(b("bad", [0xff, 0xfe], "name"))).toBe("bad\\xff\\xfename");
    expect(escapeName(b("a", [0x80], "b"))).toBe("a\\x80b"); // a lone continuation byte
    expect(escapeName(b("é€😀"))).toBe("é€😀");
    expect(escapeName(b("x", [0xc2, 0x85], "y"))).toBe("x\\xc2\\x85y"); // U+0085, a C1 control
    expect(escapeName(b("tab\there\\"))).toBe("tab\\x09here\\\\");
    expect(escapeName(b([0xe2, 0x82], "z"))).toBe("\\xe2\\x82z"); // a truncated sequence
    expect(escapeName(b([0xed, 0xa0, 0x80]))).toBe("\\xed\\xa0\\x80"); // an encoded surrogate
    expect(escapeName(b([0xc0, 0xaf]))).toBe("\\xc0\\xaf"); // an overlong "/"
  });
});

describe("diffManifest order", () => {
  it("lists paths in the checksum's order (a/x before a-b), not JavaScript's default order", async () => {
    const e = { size: 1, sha256: "0".repeat(64) };
    const f = { size: 1, sha256: "1".repeat(64) };
    const recorded = { "a-b": e, "a/x": e, "b-c": e, "b/y": e, "é/z": e, z: e };
    const current = { "a-b": f, "a/x": f, "c-d": e, "c/w": e, "é/z": e, z: e };
    expect(diffManifest(recorded, current)).toEqual({
      changed: ["a/x", "a-b"],
      added: ["c/w", "c-d"],
      removed: ["b/y", "b-c"],
    });
    const d = dir({ "a-b": "1", "a/x": "2" });
    const before = await calculateDirectoryManifest(d);
    fs.writeFileSync(path.join(d, "a-b"), "changed");
    fs.writeFileSync(path.join(d, "a/x"), "changed");
    const diff = diffManifest(before.files, (await calculateDirectoryManifest(d)).files);
    expect(diff.changed).toEqual(["a/x", "a-b"]);
    expect([...diff.changed].sort(compareTreePaths)).toEqual(Object.keys(before.files));
  });
});
