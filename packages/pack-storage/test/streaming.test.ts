import { describe, expect, it } from "@jest/globals";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { calculateDirectoryManifest, compareTreePaths, StreamingTreeHasher } from "../src/index";
import { bytes, perTestCleanup, tmp, writeTree } from "./helpers";

const NESTED = "sha256:e9837162383488cb9b187ea585ce8963634d7d04f75abeb0c43d5456de0d6b13";

const perTest = perTestCleanup();

type Tree = Record<string, Buffer>;

/** Feed `tree` (files only) to a hasher in checksum order, each file in chunks of random size. */
function feed(hasher: StreamingTreeHasher, tree: Tree, order = Object.keys(tree).sort(compareTreePaths)) {
  for (const rel of order) {
    const content = tree[rel];
    hasher.beginFile(rel, content.length);
    for (let at = 0; at < content.length;) {
      const n = 1 + crypto.randomInt(Math.min(content.length - at, 300_000));
      hasher.update(content.subarray(at, at + n));
      at += n;
    }
    hasher.endFile();
  }
  return hasher;
}

function onDisk(tree: Tree): string {
  const t = tmp();
  perTest.later(t.cleanup);
  return writeTree(path.join(t.dir, "tree"), tree);
}

// names whose order trips a naive comparison: `a/x` before `a-b` (component order), BMP private
// use (U+E000) before an astral character (surrogates in UTF-16), dotfiles, empty files, .git
const tricky: Tree = {
  "pack.yaml": Buffer.from("ref: t\nversion: 1.0.0\n"),
  "a/x": Buffer.from("x"),
  "a-b": Buffer.from("ab"),
  "a.b/c": Buffer.from(""),
  ".hidden": Buffer.from("dot"),
  "é/file": Buffer.from("accent"),
  "\uE000": Buffer.from("private use"),
  "😀": Buffer.from("astral"),
  "actions/run.sh": Buffer.from("#!/bin/sh\necho hi\n"),
  "actions/big.bin": bytes(3 * 1024 * 1024 + 17, 7),
  ".git/config": Buffer.from("[core]\n"),
  "lib/.git/HEAD": Buffer.from("ref: refs/heads/main\n"),
  "lib/.gitignore": Buffer.from("*.pyc\n"),
  "lib/x.git": Buffer.from("not a .git component\n"),
  "y.git/.gitx/z": Buffer.from("nor these\n"),
};

describe("StreamingTreeHasher", () => {
  it("gives calculateDirectoryManifest's result for the same tree written to disk", async () => {
    const result = feed(new StreamingTreeHasher(), tricky).result();
    expect(result).toEqual(await calculateDirectoryManifest(onDisk(tricky)));
    expect(Object.keys(result!.files)).not.toContain(".git/config");
    expect(Object.keys(result!.files)).not.toContain("lib/.git/HEAD");
    expect(Object.keys(result!.files)).toEqual(
      expect.arrayContaining(["lib/x.git", "y.git/.gitx/z", "lib/.gitignore"]),
    );
  });

  it("matches the DESIGN.md test vector", () => {
    const h = feed(new StreamingTreeHasher(), { "nested/file.txt": Buffer.from("fixture\n") });
    expect(h.result()?.checksum).toBe(NESTED);
    expect(h.result()?.checksum).toBe(NESTED); // the result can be read again
  });

  it("hashes only the chosen subtree, with paths relative to it", async () => {
    const tree: Tree = {
      "README.md": Buffer.from("outside"),
      "pack/pack.yaml": Buffer.from("ref: p\n"),
      "pack/actions/a.py": Buffer.from("print(1)\n"),
      "pack-extra/x": Buffer.from("outside too"),
      "z/y": Buffer.from("after"),
    };
    const dir = onDisk(tree);
    const result = feed(new StreamingTreeHasher("pack"), tree).result();
    expect(result).toEqual(await calculateDirectoryManifest(path.join(dir, "pack")));
    expect(Object.keys(result!.files).sort()).toEqual(["actions/a.py", "pack.yaml"]);
  });

  it("random trees: always the on-disk result", async () => {
    for (let round = 0; round < 5; round++) {
      const tree: Tree = {};
      const names = ["a", "b", "a-b", "a.b", "A", "_", "z9", "é", "ü-x", ".d"];
      for (let i = 0; i < 60; i++) {
        const depth = 1 + crypto.randomInt(3);
        const parts = Array.from({ length: depth }, () => names[crypto.randomInt(names.length)]);
        const rel = parts.join("/");
        // a path cannot be both a file and a directory
        if (Object.keys(tree).some((k) => k.startsWith(`${rel}/`) || rel.startsWith(`${k}/`))) continue;
        tree[rel] = crypto.randomBytes(crypto.randomInt(5000));
      }
      expect(feed(new StreamingTreeHasher(), tree).result()).toEqual(
        await calculateDirectoryManifest(onDisk(tree)),
      );
    }
  });

  it("gives no result (never a wrong one) when files come out of order", () => {
    const order = Object.keys(tricky).sort(compareTreePaths);
    [order[1], order[2]] = [order[2], order[1]];
    const h = feed(new StreamingTreeHasher(), tricky, order);
    expect(h.result()).toBeNull();
    expect(h.invalidReason).toMatch(/came after/);
    // the same file twice is out of order too
    const twice = feed(new StreamingTreeHasher(), { a: Buffer.from("1") }, ["a", "a"]);
    expect(twice.result()).toBeNull();
  });

  it("gives no result when a file's bytes differ from its declared size, or a file is left open", () => {
    const short = new StreamingTreeHasher();
    short.beginFile("a", 10);
    short.update(Buffer.from("12345"));
    short.endFile();
    expect(short.result()).toBeNull();
    expect(short.invalidReason).toMatch(/5 bytes written, 10 declared/);

    const long = new StreamingTreeHasher();
    long.beginFile("a", 2);
    long.update(Buffer.from("123"));
    long.endFile();
    expect(long.result()).toBeNull();

    const open = new StreamingTreeHasher();
    open.beginFile("a", 1);
    expect(open.result()).toBeNull();
    open.beginFile("b", 1);
    expect(open.invalidReason).toMatch(/not ended/);

    const late = feed(new StreamingTreeHasher(), { a: Buffer.from("1") });
    expect(late.result()).not.toBeNull();
    late.beginFile("b", 1); // after the result was taken: never a changed result
    expect(late.result()).toBeNull();
  });

  it("orders paths exactly as a component-by-component, bytewise comparison does", () => {
    const utf8 = (s: string) => Buffer.from(s, "utf8");
    const reference = (a: string, b: string) => {
      const x = a.split("/");
      const y = b.split("/");
      for (let i = 0; i < Math.min(x.length, y.length); i++) {
        const c = Buffer.compare(utf8(x[i]), utf8(y[i]));
        if (c !== 0) return c;
      }
      return x.length - y.length;
    };
    const alphabet = ["a", "b", "-", ".", "/", "\u0001", "é", "\uE000", "😀", "Z"];
    const word = () =>
      Array.from({ length: 1 + crypto.randomInt(6) }, () => alphabet[crypto.randomInt(alphabet.length)])
        .join("")
        .replace(/^\/+|\/+$/g, "")
        .replace(/\/+/g, "/") || "a";
    for (let i = 0; i < 5000; i++) {
      const a = word();
      const b = word();
      expect([a, b, Math.sign(compareTreePaths(a, b))]).toEqual([a, b, Math.sign(reference(a, b))]);
    }
  });

  it("orders paths component by component, bytewise", () => {
    expect(["a-b", "a/x", "a", "😀", "\uE000", "Z"].sort(compareTreePaths)).toEqual([
      "Z",
      "a",
      "a/x",
      "a-b",
      "\uE000",
      "😀",
    ]);
  });
});

describe("calculateDirectoryManifest with known contents", () => {
  it("hashes the given bytes instead of reading those files, and reads the rest", async () => {
    const dir = onDisk(tricky);
    const fromDisk = await calculateDirectoryManifest(dir);
    const asked: string[] = [];
    const known = (rel: string) => {
      asked.push(rel);
      return rel.startsWith("a") ? tricky[rel] : undefined;
    };
    expect(await calculateDirectoryManifest(dir, { contents: known })).toEqual(fromDisk);
    expect(asked).toContain("a/x");
    expect(asked).not.toContain(".git/config"); // the walk decides what is in the tree
  });

  it("trusts the given bytes (the caller's own tree), and still refuses a link in the tree", async () => {
    const dir = onDisk({ "pack.yaml": Buffer.from("ref: t\n") });
    const other = await calculateDirectoryManifest(dir, { contents: () => Buffer.from("other") });
    expect(other.files["pack.yaml"].size).toBe(5);
    fs.symlinkSync("/etc/passwd", path.join(dir, "link"));
    await expect(calculateDirectoryManifest(dir, { contents: () => Buffer.from("x") })).rejects.toMatchObject(
      {
        code: "ESYMLINK",
      },
    );
  });

  it("takes a known file's SHA-256 from digestOf (trusted), only for files whose bytes it was given", async () => {
    const dir = onDisk(tricky);
    const fromDisk = await calculateDirectoryManifest(dir);
    const given = "ab".repeat(32);
    const asked: string[] = [];
    const result = await calculateDirectoryManifest(dir, {
      contents: (rel) => (rel === "a/x" ? tricky[rel] : undefined),
      digestOf: (rel) => {
        asked.push(rel);
        return rel === "a/x" ? given : undefined;
      },
    });
    expect(asked).toEqual(["a/x"]); // files read from disk are hashed, never looked up
    expect(result.checksum).toBe(fromDisk.checksum); // the checksum hashes the bytes themselves
    expect(result.files["a/x"]).toEqual({ size: fromDisk.files["a/x"].size, sha256: given });
    expect({ ...result.files, "a/x": fromDisk.files["a/x"] }).toEqual(fromDisk.files);
  });
});
