import { describe, expect, it } from "@jest/globals";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import {
  calculateDirectoryChecksum,
  calculateDirectoryManifest,
  calculateFileChecksum,
  diffManifest,
  parseChecksum,
  verifyChecksum,
} from "../src/index";
import { BLOCK_SIZE, WHOLE_FILE_MAX } from "../src/checksum/read";
import { bytes, perTestCleanup, referenceChecksum, rejection } from "./helpers";

const EMPTY = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const NESTED = "sha256:e9837162383488cb9b187ea585ce8963634d7d04f75abeb0c43d5456de0d6b13";

const perTest = perTestCleanup();
const dir = perTest.tree;

describe("framed v1 test vectors (DESIGN.md §3)", () => {
  it("empty directory", async () => {
    expect(await calculateDirectoryChecksum(dir())).toBe(EMPTY);
  });
  it("a directory holding only .git/ equals the empty one", async () => {
    expect(await calculateDirectoryChecksum(dir({ ".git/HEAD": "ref: x\n", ".git/objects": null }))).toBe(
      EMPTY,
    );
  });
  it("nested/file.txt = fixture\\n", async () => {
    expect(await calculateDirectoryChecksum(dir({ "nested/file.txt": "fixture\n" }))).toBe(NESTED);
  });
  it("file checksum of Hello, world!", async () => {
    const d = dir({ "h.txt": "Hello, world!" });
    expect(await calculateFileChecksum(path.join(d, "h.txt"))).toBe(
      "sha256:315f5bdb76d078c43b8ac0064e4a0164612b1fce77c869345bfc94c75894edd3",
    );
  });
});

describe("tree rules", () => {
  it("framing: {a:bc, d:''} differs from {a:b, cd:''}", async () => {
    const one = await calculateDirectoryChecksum(dir({ a: "bc", d: "" }));
    const two = await calculateDirectoryChecksum(dir({ a: "b", cd: "" }));
    expect(one).not.toBe(two);
  });
  it("orders component by component: a/x before a-b (not JS string order)", async () => {
    const tree = { "a/x": "1", "a-b": "2", "a.c": "3", B: "4", é: "5", "a/x0/y": "6" };
    const d = dir(tree);
    const got = await calculateDirectoryChecksum(d);
    expect(got).toBe(referenceChecksum(d));
    // JS default order puts "a-b" before "a/x"; hashing in that order must give something else
    const m = await calculateDirectoryManifest(d);
    expect(Object.keys(m.files)).toEqual(["B", "a/x", "a/x0/y", "a-b", "a.c", "é"]);
  });
  it("orders non-BMP names by UTF-8 bytes, not UTF-16 code units", async () => {
    // U+1F600 (surrogates in UTF-16) sorts after U+E000 and U+FFFD in UTF-8 byte order
    const d = dir({
      "\u{1F600}.txt": "1",
      "\uE000.txt": "2",
      "\uFFFD.txt": "3",
      "z.txt": "4",
      "d/\u{10400}": "5",
      "d/\uFB01": "6",
    });
    expect(await calculateDirectoryChecksum(d)).toBe(referenceChecksum(d));
    const m = await calculateDirectoryManifest(d);
    expect(Object.keys(m.files)).toEqual([
      "d/\uFB01",
      "d/\u{10400}",
      "z.txt",
      "\uE000.txt",
      "\uFFFD.txt",
      "\u{1F600}.txt",
    ]);
  });
  it("skips .git at any depth, file or directory, but hashes other dotfiles", async () => {
    const base = { "x.txt": "x" };
    const plain = await calculateDirectoryChecksum(dir(base));
    const withGit = await calculateDirectoryChecksum(
      dir({ ...base, ".git": "gitdir: ../elsewhere\n", "sub/.git/config": "[core]", "sub/deeper/.git": "x" }),
    );
    expect(withGit).toBe(await calculateDirectoryChecksum(dir({ ...base, sub: null })));
    expect(withGit).toBe(plain);
    expect(await calculateDirectoryChecksum(dir({ ...base, ".gitignore": "" }))).not.toBe(plain);
    expect(await calculateDirectoryChecksum(dir({ ...base, ".git2": "" }))).not.toBe(plain);
  });
  it("empty directories change nothing", async () => {
    const a = await calculateDirectoryChecksum(dir({ "f.txt": "f" }));
    expect(await calculateDirectoryChecksum(dir({ "f.txt": "f", "e/m/p/t/y": null, z: null }))).toBe(a);
  });
  it("content and path both matter", async () => {
    const a = await calculateDirectoryChecksum(dir({ "f.txt": "f" }));
    expect(await calculateDirectoryChecksum(dir({ "f.txt": "g" }))).not.toBe(a);
    expect(await calculateDirectoryChecksum(dir({ "g.txt": "f" }))).not.toBe(a);
    expect(await calculateDirectoryChecksum(dir({ "d/f.txt": "f" }))).not.toBe(a);
  });
  it("large files across read-buffer boundaries match the reference", async () => {
    const sizes = [
      0,
      1,
      WHOLE_FILE_MAX - 1,
      WHOLE_FILE_MAX,
      WHOLE_FILE_MAX + 1,
      BLOCK_SIZE,
      BLOCK_SIZE + 1,
      2 * BLOCK_SIZE + 7,
    ];
    const tree: Record<string, Buffer> = {};
    sizes.forEach((s, i) => (tree[`f${i}.bin`] = bytes(s, i + 1)));
    const d = dir(tree);
    const progress: number[] = [];
    const got = await calculateDirectoryChecksum(d, { onProgress: (p) => progress.push(p.bytes) });
    expect(got).toBe(referenceChecksum(d));
    const total = sizes.reduce((a, b) => a + b, 0);
    expect(progress[progress.length - 1]).toBe(total);
    expect(progress.length).toBeGreaterThan(3); // per-block reports for the streamed files
    const big = path.join(d, "f7.bin");
    expect(await calculateFileChecksum(big)).toBe(
      `sha256:${crypto.createHash("sha256").update(fs.readFileSync(big)).digest("hex")}`,
    );
  });
});

describe("event loop", () => {
  it("yields while hashing a large tree, so a server stays responsive", async () => {
    const tree: Record<string, string> = {};
    for (let i = 0; i < 5000; i++) tree[`d${i % 50}/f${i}.txt`] = `content ${i}`;
    const d = dir(tree);
    let ticks = 0;
    let ticksAtFirstReport: number | undefined;
    const timer = setInterval(() => ticks++, 1);
    try {
      await calculateDirectoryChecksum(d, { onProgress: () => (ticksAtFirstReport ??= ticks) });
    } finally {
      clearInterval(timer);
    }
    // once hashing small files has begun there is no I/O await left: only the time-slice yields
    // let the timer run (5,000 files take well over one 8 ms slice)
    expect(ticksAtFirstReport).toBeDefined();
    expect(ticks).toBeGreaterThan(ticksAtFirstReport!);
  });
});

describe("hostile trees", () => {
  it("rejects a symlink anywhere, naming it", async () => {
    const d = dir({ "a/real.txt": "x" });
    fs.symlinkSync("real.txt", path.join(d, "a/link.txt"));
    const err = await rejection(calculateDirectoryChecksum(d));
    expect(err.code).toBe("ESYMLINK");
    expect(err.message).toContain(path.join(d, "a/link.txt"));
  });
  it("rejects a symlinked directory and a symlinked root", async () => {
    const d = dir({ "real/x": "x" });
    fs.symlinkSync("real", path.join(d, "alias"));
    expect((await rejection(calculateDirectoryChecksum(d))).code).toBe("ESYMLINK");
    const root = dir({ x: "x" });
    const link = `${root}-link`;
    fs.symlinkSync(root, link);
    perTest.later(() => fs.rmSync(link, { force: true }));
    const rootLink = (await rejection(calculateDirectoryChecksum(link))) as { code?: string; hint?: string };
    expect(rootLink.code).toBe("ESYMLINK");
    // the way on names the real directory (an installed pack's storage path is such a link)
    expect(rootLink.hint).toBe(`pass the directory the link points to: ${fs.realpathSync(root)}`);
  });
  it("rejects a FIFO without blocking on it", async () => {
    const d = dir({ "ok.txt": "x" });
    const { execFileSync } = await import("node:child_process");
    execFileSync("mkfifo", [path.join(d, "pipe")]);
    const err = await rejection(calculateDirectoryChecksum(d));
    expect(err.code).toBe("ESPECIAL_FILE");
    expect(err.message).toContain("FIFO");
    expect(err.message).toContain(path.join(d, "pipe"));
  });
  it("rejects a socket", async () => {
    const d = dir({ "ok.txt": "x" });
    const net = await import("node:net");
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(path.join(d, "sock"), r));
    try {
      expect((await rejection(calculateDirectoryChecksum(d))).code).toBe("ESPECIAL_FILE");
    } finally {
      server.close();
    }
  });
  it("rejects a non-UTF-8 file name, naming the directory", async () => {
    const d = dir({ "ok.txt": "x" });
    fs.writeFileSync(Buffer.concat([Buffer.from(`${d}/bad-`), Buffer.from([0xff, 0xfe])]), "x");
    const err = await rejection(calculateDirectoryChecksum(d));
    expect(err.code).toBe("EBAD_FILENAME");
    expect(err.message).toContain(`${d}/bad-`);
  });
  it("file checksum: follows a link to a file, refuses a FIFO without blocking", async () => {
    const d = dir({ "h.txt": "Hello, world!" });
    fs.symlinkSync("h.txt", path.join(d, "link"));
    expect(await calculateFileChecksum(path.join(d, "link"))).toBe(
      await calculateFileChecksum(path.join(d, "h.txt")),
    );
    const { execFileSync } = await import("node:child_process");
    execFileSync("mkfifo", [path.join(d, "pipe")]);
    expect((await rejection(calculateFileChecksum(path.join(d, "pipe")))).code).toBe("ESPECIAL_FILE");
    expect((await rejection(verifyChecksum(path.join(d, "pipe"), EMPTY))).code).toBe("ESPECIAL_FILE");
  });
  it("a missing root is ENOENT, a file root is EINVALID_INPUT", async () => {
    const d = dir({ f: "x" });
    expect((await rejection(calculateDirectoryChecksum(path.join(d, "nope")))).code).toBe("ENOENT");
    expect((await rejection(calculateDirectoryChecksum(path.join(d, "f")))).code).toBe("EINVALID_INPUT");
    expect((await rejection(calculateFileChecksum(d))).code).toBe("EINVALID_INPUT");
  });
  it.each([
    ["truncated", (f: string) => fs.truncateSync(f, BLOCK_SIZE + 10)],
    ["grown", (f: string) => fs.appendFileSync(f, "more")],
  ])("a file %s while being hashed is ECHANGED naming it", async (_name, change) => {
    const d = dir({ "a.txt": "a", "big.bin": bytes(3 * BLOCK_SIZE) });
    const big = path.join(d, "big.bin");
    let changed = false;
    const err = await rejection(
      calculateDirectoryChecksum(d, {
        onProgress: (p) => {
          if (!changed && p.bytes > 1) {
            changed = true;
            change(big);
          }
        },
      }),
    );
    expect(changed).toBe(true);
    expect(err.code).toBe("ECHANGED");
    expect(err.message).toContain(big);
  });
});

describe("callbacks", () => {
  it("an onProgress that throws mid-file rejects with that error; hashing still works after", async () => {
    const d = dir({ "big.bin": bytes(3 * BLOCK_SIZE) });
    const boom = new Error("progress callback failed");
    const failing = calculateDirectoryChecksum(d, {
      onProgress: () => {
        throw boom;
      },
    });
    await expect(failing).rejects.toBe(boom);
    expect(await calculateDirectoryChecksum(d)).toBe(referenceChecksum(d));
  });
});

describe("verify and parse", () => {
  it("verifies a directory and a file, case-insensitively", async () => {
    const d = dir({ "nested/file.txt": "fixture\n" });
    expect(await verifyChecksum(d, NESTED.toUpperCase().replace("SHA256", "sha256"))).toEqual({
      ok: true,
      expected: NESTED,
      actual: NESTED,
    });
    const r = await verifyChecksum(path.join(d, "nested/file.txt"), EMPTY);
    expect(r.ok).toBe(false);
    expect(r.actual).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
  it.each([
    "",
    "sha256:",
    "sha256:xyz",
    `md5:${"0".repeat(64)}`,
    `sha256:${"0".repeat(63)}`,
    ` ${EMPTY}`,
    `${EMPTY}0`,
  ])("rejects malformed expected %j before any I/O", async (bad) => {
    const err = await rejection(verifyChecksum("/definitely/not/there", bad));
    expect(err.code).toBe("EINVALID_CHECKSUM");
    expect(() => parseChecksum(bad)).toThrow(expect.objectContaining({ code: "EINVALID_CHECKSUM" }));
  });
  it("parseChecksum lower-cases", () => {
    expect(parseChecksum(EMPTY.toUpperCase())).toBe(EMPTY);
  });
});

describe("manifest", () => {
  it("records each file and its checksum equals the directory checksum", async () => {
    const d = dir({ "a.txt": "a", "b/c.txt": "c", ".git/x": "no" });
    const m = await calculateDirectoryManifest(d);
    expect(m.checksum).toBe(await calculateDirectoryChecksum(d));
    expect(m.files).toEqual({
      "a.txt": { size: 1, sha256: crypto.createHash("sha256").update("a").digest("hex") },
      "b/c.txt": { size: 1, sha256: crypto.createHash("sha256").update("c").digest("hex") },
    });
  });
  it("diffManifest reports changed, added and removed files after tampering on disk", async () => {
    const d = dir({ "keep.txt": "k", "edit.txt": "e", "gone.txt": "g" });
    const before = await calculateDirectoryManifest(d);
    fs.writeFileSync(path.join(d, "edit.txt"), "E");
    fs.rmSync(path.join(d, "gone.txt"));
    fs.writeFileSync(path.join(d, "new.txt"), "n");
    const after = await calculateDirectoryManifest(d);
    expect(after.checksum).not.toBe(before.checksum);
    expect(diffManifest(before.files, after.files)).toEqual({
      changed: ["edit.txt"],
      added: ["new.txt"],
      removed: ["gone.txt"],
    });
    expect(diffManifest(after.files, after.files)).toEqual({ changed: [], added: [], removed: [] });
  });
});
