import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { afterAll, describe, expect, it } from "@jest/globals";
import { tmpDir } from "@attune/test-utils";
import { GitBlobSizes, PackObjectTooLarge, packOfUploadPack, scanPack } from "../src/sources/git-sizes";

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

  it("reads through empty deflate blocks put first to hide a size, and refuses megabytes of them", () => {
    // zlib header, N empty stored blocks (00 00 00 ff ff each: valid deflate, no output), the data
    const stuffed = (content: Buffer, blocks: number) => {
      let a = 1;
      let b = 0;
      for (const byte of content) {
        a = (a + byte) % 65521;
        b = (b + a) % 65521;
      }
      const adler = Buffer.alloc(4);
      adler.writeUInt32BE(((b << 16) | a) >>> 0);
      const empty = Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff]);
      return Buffer.concat([
        Buffer.from([0x78, 0x01]),
        ...Array(blocks).fill(empty),
        zlib.deflateRawSync(content),
        adler,
      ]);
    };
    const write = (oid: string, data: Buffer) => {
      fs.mkdirSync(path.join(repo, ".git", "objects", oid.slice(0, 2)), { recursive: true });
      fs.writeFileSync(path.join(repo, ".git", "objects", oid.slice(0, 2), oid.slice(2)), data);
    };
    const content = Buffer.concat([Buffer.from("blob 5000000\0"), Buffer.alloc(5_000_000)]);
    expect(zlib.inflateSync(stuffed(content, 1000)).length).toBe(content.length); // a valid stream
    write("ab" + "1".repeat(38), stuffed(content, 1000)); // 5 KB of stuffing: read through
    write("ab" + "2".repeat(38), stuffed(content, 300_000)); // 1.5 MB of it: refused
    const sizes = new GitBlobSizes(path.join(repo, ".git"));
    try {
      expect(sizes.size("ab" + "1".repeat(38))).toBe(5_000_000);
      expect(() => sizes.size("ab" + "2".repeat(38))).toThrow(/unreadable header/);
    } finally {
      sizes.close();
    }
  });

  it("scanPack walks a real pack, and refuses an object over the cap whatever its header says", () => {
    const objects = git(repo, "rev-list", "--objects", "--all")
      .split("\n")
      .map((l) => l.split(" ")[0])
      .filter(Boolean)
      .join("\n");
    const pack = execFileSync("git", ["pack-objects", "--stdout"], { cwd: repo, input: objects });
    expect(() => scanPack(pack, 1024 * 1024)).not.toThrow();
    expect(() => scanPack(pack, 100)).toThrow(PackObjectTooLarge);
    // one blob whose header says 10 bytes while its data inflates to 2 MB
    const lie = Buffer.concat([
      Buffer.from("PACK"),
      Buffer.from([0, 0, 0, 2, 0, 0, 0, 1]),
      Buffer.from([(3 << 4) | 10]),
      zlib.deflateSync(Buffer.alloc(2_000_000)),
    ]);
    expect(() => scanPack(lie, 1024 * 1024)).toThrow(PackObjectTooLarge);
    expect(() => scanPack(Buffer.from("not a pack at all"), 1024)).toThrow(/not a git pack/);
  });

  it("packOfUploadPack takes side-band channel 1 of an upload-pack answer", () => {
    const line = (payload: Buffer) =>
      Buffer.concat([Buffer.from((payload.length + 4).toString(16).padStart(4, "0")), payload]);
    const answer = Buffer.concat([
      line(Buffer.from("shallow " + "a".repeat(40) + "\n")),
      Buffer.from("0000"),
      line(Buffer.from("NAK\n")),
      line(Buffer.concat([Buffer.from([1]), Buffer.from("PACK1")])),
      line(Buffer.concat([Buffer.from([2]), Buffer.from("Counting objects\r")])),
      line(Buffer.concat([Buffer.from([1]), Buffer.from("23")])),
      Buffer.from("0000"),
    ]);
    expect(packOfUploadPack(answer)?.toString()).toBe("PACK123");
    expect(
      packOfUploadPack(Buffer.concat([line(Buffer.from("NAK\n")), Buffer.from("PACKraw")]))?.toString(),
    ).toBe("PACKraw");
    expect(packOfUploadPack(Buffer.from("zzzz"))).toBeNull();
  });
});
