import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "@jest/globals";
import git from "isomorphic-git";
import { tmpDir } from "@attune/test-utils";
import { resolveLimits } from "../src/extract/limits";
import { checkoutTree } from "../src/sources/git-tree";

const tmp = tmpDir("attune-git-tree-");
afterAll(() => tmp.cleanup());
const run = (cwd: string, ...args: string[]) => execFileSync("git", args, { cwd }).toString().trim();

/** A repository with loose objects (as a fresh commit leaves them) and, after `repack`, packed ones. */
function makeRepo(name: string): { dir: string; commit: string } {
  const dir = path.join(tmp.dir, name);
  fs.mkdirSync(path.join(dir, "actions"), { recursive: true });
  run(dir, "init", "-q");
  run(dir, "config", "user.email", "t@example.com");
  run(dir, "config", "user.name", "t");
  fs.writeFileSync(path.join(dir, "pack.yaml"), "ref: demo\nversion: 1.0.0\n");
  fs.writeFileSync(path.join(dir, "actions", "run.sh"), "#!/bin/sh\necho hi\n", { mode: 0o755 });
  for (let i = 0; i < 30; i++) fs.writeFileSync(path.join(dir, `f${i}.txt`), `file ${i}\n`);
  run(dir, "add", "-A");
  run(dir, "commit", "-qm", "one");
  return { dir, commit: run(dir, "rev-parse", "HEAD") };
}

const origin = { ref: "main", repo: "https://git.example.com/demo.git" };

describe("checkoutTree reads objects through its own read-only file system adapter", () => {
  it("writes every file of loose and of packed objects, with its mode", async () => {
    for (const packed of [false, true]) {
      const { dir, commit } = makeRepo(packed ? "packed" : "loose");
      if (packed) run(dir, "repack", "-adq");
      const dest = path.join(tmp.dir, `out-${packed}`);
      fs.mkdirSync(dest);
      const r = await checkoutTree(git, path.join(dir, ".git"), commit, dest, resolveLimits(), origin);
      expect(r.files).toBe(32);
      expect(fs.readFileSync(path.join(dest, "f7.txt"), "utf8")).toBe("file 7\n");
      expect(fs.statSync(path.join(dest, "actions", "run.sh")).mode & 0o777).toBe(0o755);
      expect(fs.statSync(path.join(dest, "pack.yaml")).mode & 0o777).toBe(0o644);
    }
  });

  it("names an object missing from the repository (EFETCH), and writes nothing", async () => {
    const { dir, commit } = makeRepo("damaged");
    const blob = run(dir, "rev-parse", "HEAD:f3.txt");
    fs.rmSync(path.join(dir, ".git", "objects", blob.slice(0, 2), blob.slice(2)));
    const dest = path.join(tmp.dir, "out-damaged");
    fs.mkdirSync(dest);
    const err = await checkoutTree(git, path.join(dir, ".git"), commit, dest, resolveLimits(), origin).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({
      code: "EFETCH",
      message: expect.stringContaining(`object ${blob} of the tree of ${origin.repo} at "main" is missing`),
      details: { field: "source", oid: blob },
    });
    expect(fs.readdirSync(dest)).toEqual([]);
  });
});
