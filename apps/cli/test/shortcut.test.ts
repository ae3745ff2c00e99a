import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { tmpDir, writeTree } from "@attune/test-utils";
import { plainChecksumArgs } from "../src/shortcut";
import { CLI_DIR, baseEnv, runCli, type RunResult } from "./helpers";

/** The same arguments through main() (the full yargs parser), in a process of its own. */
function runMain(args: string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  const index = pathToFileURL(path.join(CLI_DIR, "dist", "index.js")).href;
  const code = `const { main } = await import(${JSON.stringify(index)}); process.exitCode = await main(JSON.parse(process.argv[1]));`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", code, JSON.stringify(args)], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (c) => resolve({ code: c, stdout, stderr }));
  });
}

describe("plainChecksumArgs: only the plainest `pack checksum` lines skip the full parser", () => {
  it.each([
    [["pack", "checksum", "p"], { path: "p" }],
    [["pack", "checksum", "-q", "p"], { path: "p", quiet: true }],
    [["pack", "checksum", "p", "--quiet", "--json"], { path: "p", quiet: true, json: true }],
    [["pack", "checksum", "p", "-o", "yaml"], { path: "p", output: "yaml" }],
    [["pack", "checksum", "--output", "table", "p"], { path: "p", output: "table" }],
    [["pack", "checksum", ""], { path: "" }],
  ])("%j is taken", (argv, expected) => {
    expect(plainChecksumArgs(argv)).toEqual({
      quiet: undefined,
      json: undefined,
      output: undefined,
      ...expected,
    });
  });

  it.each([
    [[]],
    [["pack"]],
    [["pack", "checksum"]],
    [["pack", "checksum", "a", "b"]],
    [["pack", "checksum", "-q", "-q", "a"]],
    [["pack", "checksum", "a", "--json", "--json"]],
    [["pack", "checksum", "a", "--quiet=true"]],
    [["pack", "checksum", "a", "--no-quiet"]],
    [["pack", "checksum", "a", "-o"]],
    [["pack", "checksum", "a", "-o", "xml"]],
    [["pack", "checksum", "a", "-o", "json", "-o", "yaml"]],
    [["pack", "checksum", "a", "--help"]],
    [["pack", "checksum", "a", "--debug"]],
    [["pack", "checksum", "a", "--home", "/x"]],
    [["pack", "checksum", "-a"]],
    [["pack", "checksum", "--", "a"]],
    [["--debug", "pack", "checksum", "a"]],
    [["-q", "pack", "checksum", "a"]],
    [["pack", "install", "a"]],
    [["pack", "checksums", "a"]],
  ])("%j goes to the full parser", (argv) => {
    expect(plainChecksumArgs(argv)).toBeNull();
  });
});

describe("the shortcut prints exactly what the full parser prints", () => {
  const t = tmpDir("attune-cli-shortcut-");
  const pack = path.join(t.dir, "pack");
  const archive = path.join(t.dir, "pack-1.0.0.tgz");
  const note = path.join(t.dir, "note.txt");
  const link = path.join(t.dir, "link");
  beforeAll(() => {
    writeTree(pack, { "pack.yaml": "ref: demo\nversion: 1.0.0\n", "nested/file.txt": "fixture\n" });
    execFileSync("tar", ["-czf", archive, "-C", pack, "."]);
    fs.writeFileSync(note, "not an archive");
    fs.symlinkSync(pack, link);
  });
  afterAll(() => t.cleanup());

  const cases: [string, string[], Record<string, string>][] = [
    ["a directory", ["pack", "checksum", "<pack>"], {}],
    ["a directory, quietly, as a table", ["pack", "checksum", "-q", "<pack>", "-o", "table"], {}],
    ["a directory as yaml", ["pack", "checksum", "<pack>", "--output", "yaml"], {}],
    ["a directory's index template", ["pack", "checksum", "<pack>", "--json"], {}],
    ["an archive's index template", ["pack", "checksum", "<archive>", "--json", "-q"], {}],
    ["an archive as a table", ["pack", "checksum", "<archive>", "-o", "table"], {}],
    ["ATTUNE_OUTPUT=yaml", ["pack", "checksum", "<archive>"], { ATTUNE_OUTPUT: "yaml" }],
    ["a bad ATTUNE_OUTPUT", ["pack", "checksum", "<pack>"], { ATTUNE_OUTPUT: "xml" }],
    ["a missing path", ["pack", "checksum", "<missing>"], {}],
    ["an empty path", ["pack", "checksum", ""], {}],
    ["a symbolic link", ["pack", "checksum", "<link>"], {}],
    ["--json of a file that is no archive", ["pack", "checksum", "<note>", "--json"], {}],
  ];

  it.each(cases)("%s", async (_name, template, extraEnv) => {
    const places: Record<string, string> = {
      "<pack>": pack,
      "<archive>": archive,
      "<note>": note,
      "<link>": link,
      "<missing>": path.join(t.dir, "missing"),
    };
    const args = template.map((a) => places[a] ?? a);
    expect(plainChecksumArgs(args)).not.toBeNull(); // this case does take the shortcut
    const env = baseEnv({ ATTUNE_HOME: path.join(t.dir, "home"), ...extraEnv });
    const [short, full] = await Promise.all([runCli(args, { env }), runMain(args, env)]);
    expect(short).toEqual(full);
    expect(short.stdout + short.stderr).not.toBe(""); // each case prints a result or an error
  });

  it("exits non-zero with the full parser's codes on errors (usage 2, failure 1)", async () => {
    const env = baseEnv({ ATTUNE_HOME: path.join(t.dir, "home") });
    const missing = await runCli(["pack", "checksum", path.join(t.dir, "missing")], { env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no such file or directory/);
    const usage = await runCli(["pack", "checksum", note, "--json"], { env });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--json: .* is neither a pack directory nor/);
  });
});
