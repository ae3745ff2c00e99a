import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { tmpDir, writeTree } from "@attune/test-utils";
import YAML from "yaml";
import { ESCAPE_RE, baseEnv, json, runCli } from "./helpers";

const NESTED = "sha256:e9837162383488cb9b187ea585ce8963634d7d04f75abeb0c43d5456de0d6b13";
const HELLO_HEX = "315f5bdb76d078c43b8ac0064e4a0164612b1fce77c869345bfc94c75894edd3";

describe("attune pack checksum", () => {
  const t = tmpDir("attune-cli-checksum-");
  const pack = path.join(t.dir, "pack");
  beforeAll(() => {
    writeTree(pack, { "nested/file.txt": "fixture\n" });
    fs.writeFileSync(path.join(t.dir, "hello.txt"), "Hello, world!");
    execFileSync("tar", ["-czf", path.join(t.dir, "pack-1.0.0.tgz"), "-C", pack, "."]);
  });
  afterAll(() => t.cleanup());

  it("prints the framed v1 directory checksum as JSON by default when stdout is not a TTY", async () => {
    const r = await runCli(["pack", "checksum", pack]);
    expect(r.code).toBe(0);
    expect(json(r)).toEqual({ checksum: NESTED, path: pack });
    expect(r.stderr).toBe("");
  });

  it("prints the hex and the sha256: form as a table, and parses back from yaml", async () => {
    const table = await runCli(["pack", "checksum", pack, "-o", "table"]);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain(NESTED);
    expect(table.stdout).toMatch(new RegExp(`^sha256:\\s+${NESTED.slice(7)}$`, "m"));
    const yaml = await runCli(["pack", "checksum", pack, "-o", "yaml"]);
    expect(YAML.parse(yaml.stdout)).toEqual({ checksum: NESTED, path: pack });
  });

  it("hashes a file's bytes (archives are checksummed as files)", async () => {
    const r = await runCli(["pack", "checksum", path.join(t.dir, "hello.txt"), "-o", "json"]);
    expect(json<{ checksum: string }>(r).checksum).toBe(`sha256:${HELLO_HEX}`);
  });

  it("--json prints an archive source template for archives and a git one for directories", async () => {
    const archive = path.join(t.dir, "pack-1.0.0.tgz");
    const a = json<Record<string, unknown>>(await runCli(["pack", "checksum", archive, "--json"]));
    expect(Object.keys(a)).toEqual(["type", "url", "checksum"]);
    expect(a.type).toBe("archive");
    const fileSum = json<{ checksum: string }>(await runCli(["pack", "checksum", archive]));
    expect(a.checksum).toBe(fileSum.checksum);
    const g = json<Record<string, unknown>>(
      await runCli(["pack", "checksum", pack, "--json", "-o", "table"]),
    );
    expect(Object.keys(g)).toEqual(["type", "url", "ref", "checksum"]);
    expect(g).toMatchObject({ type: "git", checksum: NESTED });
    // a plain file has no source template: no source could ever deliver that checksum
    const plain = path.join(t.dir, "notes.txt");
    fs.writeFileSync(plain, "Hello, world!");
    const p = await runCli(["pack", "checksum", plain, "--json"]);
    expect(p.code).toBe(2);
    expect(p.stdout).toBe("");
    expect(p.stderr).toMatch(
      /^attune: EUSAGE: --json: .*notes\.txt is neither a pack directory nor a \.tar\.gz/,
    );
  });

  it("a missing path exits 1 with one ENOENT line and a hint, nothing on stdout", async () => {
    const r = await runCli(["pack", "checksum", path.join(t.dir, "nope")]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^attune: ENOENT: .*nope: no such file or directory$/);
    expect(lines[1]).toMatch(/^hint: /);
    expect(lines).toHaveLength(2);
    const empty = await runCli(["pack", "checksum", ""]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(
      /^attune: EUSAGE: the path is empty\nhint: give the path of a pack directory/,
    );
  });

  it("a symlink inside the pack exits 1 and names the link", async () => {
    const bad = path.join(t.dir, "with-link");
    writeTree(bad, { "a.txt": "a" });
    fs.symlinkSync("a.txt", path.join(bad, "link.txt"));
    const r = await runCli(["pack", "checksum", bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^attune: ESYMLINK: .*link\.txt/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack without --debug
  });

  it("a symlinked root is refused, a FIFO inside is named, an unreadable path is one line", async () => {
    fs.symlinkSync(pack, path.join(t.dir, "root-link"));
    const root = await runCli(["pack", "checksum", path.join(t.dir, "root-link")]);
    expect(root.code).toBe(1);
    expect(root.stderr).toMatch(/^attune: ESYMLINK: /);
    const fifoDir = path.join(t.dir, "with-fifo");
    fs.mkdirSync(fifoDir);
    execFileSync("mkfifo", [path.join(fifoDir, "pipe")]);
    const fifo = await runCli(["pack", "checksum", fifoDir]);
    expect(fifo.code).toBe(1);
    const words =
      "is a FIFO; packs may only contain regular files and directories\nhint: move it out of the pack's directory\n";
    expect(fifo.stderr).toBe(`attune: ESPECIAL_FILE: ${path.join(fifoDir, "pipe")} ${words}`);
    // install says it in the same words, naming the entry by its path in the pack
    fs.writeFileSync(path.join(fifoDir, "pack.yaml"), "ref: fifo_pack\nversion: 1.0.0\nlabel: f\n");
    const install = await runCli(["pack", "install", fifoDir], {
      env: baseEnv({ ATTUNE_HOME: path.join(t.dir, "fifo-dir-home") }),
    });
    expect({ code: install.code, stderr: install.stderr }).toEqual({
      code: 1,
      stderr: `attune: ESPECIAL_FILE: pipe ${words}`,
    });
    const notDir = await runCli(["pack", "checksum", path.join(t.dir, "hello.txt", "x")]);
    expect(notDir.code).toBe(1);
    expect(notDir.stderr.trimEnd().split("\n")[0]).toMatch(/^attune: EIO: cannot read .*hello\.txt\/x/);
  });

  it("a FIFO given as the path is refused by checksum and install in the same words", async () => {
    const env = baseEnv({ ATTUNE_HOME: path.join(t.dir, "fifo-home") });
    for (const name of ["fifo", "fifo.tgz"]) {
      const fifo = path.join(t.dir, name);
      execFileSync("mkfifo", [fifo]);
      const words = `${fifo} is neither a directory nor a regular file\nhint: give a pack directory or an archive file\n`;
      const sum = await runCli(["pack", "checksum", fifo], { env, timeoutMs: 20_000 });
      expect({ name, code: sum.code, stderr: sum.stderr }).toEqual({
        name,
        code: 1,
        stderr: `attune: ESPECIAL_FILE: ${words}`,
      });
      const install = await runCli(["pack", "install", fifo], { env, timeoutMs: 20_000 });
      expect({ name, code: install.code, stderr: install.stderr }).toEqual({
        name,
        code: 2,
        stderr: `attune: EINVALID_INPUT: source: ${words}`,
      });
    }
  });

  it("--debug adds the stack trace", async () => {
    const r = await runCli(["pack", "checksum", path.join(t.dir, "with-link"), "--debug"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\n\s+at /);
  });

  it("writes no progress or escape codes when stderr is not a TTY", async () => {
    const r = await runCli(["pack", "checksum", pack, "-o", "table"]);
    expect(r.stderr).toBe("");
    expect(ESCAPE_RE.test(r.stdout)).toBe(false);
  });
});
