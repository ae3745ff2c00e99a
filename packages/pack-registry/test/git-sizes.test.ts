import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "@jest/globals";
import { tmpDir } from "@attune/test-utils";
import { GitBlobSizes } from "../src/sources/git-sizes";

const tmp = tmpDir("attune-git-sizes-");
afterAll(() => tmp.cleanup());
const git = (cwd: string, ...args: string[]) => execFileSync("git", args, { cwd }).toString();

describe("GitBlobSizes: blob sizes from the repository's bookkeeping", () => {
  const repo = path.join(tmp.dir, "repo");
  fs.mkdirSync(repo);
  git(repo, "init", "-q");
  git(repo, "config", "user.email", "t@example.com");
  git(repo, "config", "user.name", "t");
  // versions of one file that git stores as deltas of each other once packed
  let text = "";
  for (let i = 0; i < 6; i++) {
    text += `line ${i} ${"x".repeat(2000)}\n`;
    fs.writeFileSync(path.join(repo, "grow.txt"), text);
    fs.writeFileSync(path.join(repo, `small-${i}.txt`), `${i}`);
    git(repo, "add", "-A");
    git(repo, "commit", "-qm", `c${i}`);
  }

  it("agrees with git cat-file -s for every blob: whole, delta and loose", () => {
    git(repo, "repack", "-adq", "--depth=10", "--window=10");
    // written after the repack: a loose object (zlib of "blob <size>\0" + content)
    fs.writeFileSync(path.join(tmp.dir, "new.bin"), Buffer.alloc(300_000, 7));
    const loose = git(repo, "hash-object", "-w", path.join(tmp.dir, "new.bin")).trim();
    expect(fs.existsSync(path.join(repo, ".git", "objects", loose.slice(0, 2), loose.slice(2)))).toBe(true);
    const idx = fs.readdirSync(path.join(repo, ".git", "objects", "pack")).find((n) => n.endsWith(".idx"))!;
    const listing = git(repo, "verify-pack", "-v", path.join(".git", "objects", "pack", idx));
    // "<oid> blob <size> <size-in-pack> <offset> [<depth> <base-oid>]"
    const blobs = listing
      .split("\n")
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f[1] === "blob");
    expect(blobs.some((f) => f.length > 5)).toBe(true); // some are stored as deltas
    const sizes = new GitBlobSizes(path.join(repo, ".git"));
    try {
      for (const [oid] of blobs)
        expect([oid, sizes.size(oid)]).toEqual([oid, Number(git(repo, "cat-file", "-s", oid))]);
      expect(sizes.size(loose)).toBe(300_000);
      expect(() => sizes.size("0".repeat(40))).toThrow();
    } finally {
      sizes.close();
    }
  });
});
