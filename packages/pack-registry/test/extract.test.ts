import { execFileSync } from "node:child_process";
import {
  chmodSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { crc32, gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import * as tar from "tar";
import yazl from "yazl";
import { AttuneError, ErrorCodes } from "@attune/pack-storage";
import { git, tmpDir, writeTree } from "@attune/test-utils";
import { findPackRoot, loadManifest } from "../src/manifest";
import { DEFAULT_EXTRACT_LIMITS, detectArchiveType, extractArchive, resolveLimits } from "../src/extract";

let work: ReturnType<typeof tmpDir>;
beforeEach(() => {
  work = tmpDir("attune-extract-");
});
afterEach(() => work.cleanup());

const list = (dir: string) => readdirSync(dir, { recursive: true, encoding: "utf8" }).sort();

function makeZip(file: string, add: (zip: yazl.ZipFile) => void): Promise<string> {
  const zip = new yazl.ZipFile();
  add(zip);
  zip.end();
  return new Promise((resolve) =>
    zip.outputStream.pipe(createWriteStream(file)).on("close", () => resolve(file)),
  );
}

/** A source tree with an executable, a setuid file, a world-writable file and a long path. */
function sourceTree(): string {
  const src = join(work.dir, "src");
  const long = `${"long-directory-name/".repeat(6)}file.txt`; // > 100 bytes: needs a pax/GNU long name
  writeTree(src, {
    "pack.yaml": "ref: x\nversion: 1.0.0\n",
    "bin/run": "#!/bin/sh\n",
    suid: "s",
    shared: "w",
    [long]: "deep",
    empty: "",
  });
  chmodSync(join(src, "bin/run"), 0o755);
  chmodSync(join(src, "suid"), 0o4755);
  chmodSync(join(src, "shared"), 0o666);
  return src;
}

/**
 * A zip of stored entries written byte by byte, made on Unix (mode 0644), the UTF-8 flag unset, as
 * Info-ZIP writes them; `counted` is what the end record says (default: all of them).
 */
function storedZip(entries: Array<[string | Buffer, string]>, counted = entries.length): Buffer {
  const local: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, body] of entries) {
    const n = Buffer.isBuffer(name) ? name : Buffer.from(name);
    const d = Buffer.from(body);
    const crc = crc32(d);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(20, 4);
    lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(d.length, 18);
    lh.writeUInt32LE(d.length, 22);
    lh.writeUInt16LE(n.length, 26);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(0x031e, 4);
    ch.writeUInt16LE(20, 6);
    ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(d.length, 20);
    ch.writeUInt32LE(d.length, 24);
    ch.writeUInt16LE(n.length, 28);
    ch.writeUInt32LE((0o100644 << 16) >>> 0, 38);
    ch.writeUInt32LE(offset, 42);
    local.push(lh, n, d);
    central.push(ch, n);
    offset += lh.length + n.length + d.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(counted, 8);
  end.writeUInt16LE(counted, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...local, cd, end]);
}

describe("extractArchive", () => {
  it("extracts a tar.gz written by GNU tar (with its ./ root entry) and normalises modes", async () => {
    const src = sourceTree();
    const file = join(work.dir, "gnu.tar.gz");
    execFileSync("tar", ["-czf", file, "-C", src, "."]);
    const dest = join(work.dir, "out");
    const result = await extractArchive(file, dest);
    expect(result).toMatchObject({ type: "tar.gz", files: 6 });
    expect(readFileSync(join(dest, "empty"))).toHaveLength(0);
    expect(list(dest)).toEqual(list(src));
    expect(readFileSync(join(dest, "long-directory-name/".repeat(6), "file.txt"), "utf8")).toBe("deep");
    expect(statSync(join(dest, "bin/run")).mode & 0o7777).toBe(0o755);
    expect(statSync(join(dest, "suid")).mode & 0o7777).toBe(0o755);
    expect(statSync(join(dest, "shared")).mode & 0o7777).toBe(0o644);
    expect(statSync(dest).mode & 0o777).toBe(0o755);
  });

  it("extracts a GitHub-style tarball and zipball (git archive: global pax header, one top directory)", async () => {
    const repo = join(work.dir, "repo");
    writeTree(repo, { "pack.yaml": "ref: gh_pack\nversion: 2.0.0\n", "actions/a.sh": "#!/bin/sh\n" });
    chmodSync(join(repo, "actions/a.sh"), 0o755);
    git(repo, "init", "-q", "-b", "main");
    git(repo, "add", "-A");
    git(repo, "commit", "-q", "-m", "c");
    const sha = git(repo, "rev-parse", "HEAD");
    for (const format of ["tar.gz", "zip"]) {
      const file = join(work.dir, `gh.${format}`);
      git(
        repo,
        "archive",
        `--format=${format}`,
        `--prefix=owner-repo-${sha.slice(0, 7)}/`,
        "-o",
        file,
        "HEAD",
      );
      const dest = join(work.dir, `gh-${format}`);
      expect(await extractArchive(file, dest)).toMatchObject({ files: 2 });
      const root = await findPackRoot(dest);
      expect(root).toBe(join(dest, `owner-repo-${sha.slice(0, 7)}`));
      expect((await loadManifest(root)).ref).toBe("gh_pack");
      expect(statSync(join(root, "actions/a.sh")).mode & 0o777).toBe(0o755);
    }
  });

  it("leaves out .git at any depth (the checksum skips it: stored, no verify would see it change)", async () => {
    const src = join(work.dir, "with-git");
    writeTree(src, {
      "pack.yaml": "ref: x\nversion: 1.0.0\n",
      "actions/a.sh": "echo a\n",
      ".git/config": "[core]\n\tfsmonitor = touch /tmp/pwned\n",
      ".git/hooks/post-checkout": "#!/bin/sh\n",
      "lib/sub/.git": "gitdir: ../../.git/modules/sub\n", // a submodule's .git file
    });
    const tgz = join(work.dir, "with-git.tar.gz");
    execFileSync("tar", ["czf", tgz, "-C", src, "."]);
    const zip = await makeZip(join(work.dir, "with-git.zip"), (z) => {
      z.addBuffer(Buffer.from("ref: x\nversion: 1.0.0\n"), "pack.yaml");
      z.addBuffer(Buffer.from("[core]\n"), "nested/.git/config");
    });
    for (const [file, kept] of [
      [tgz, ["actions", "actions/a.sh", "lib", "lib/sub", "pack.yaml"]],
      // (the zip has no entry for nested/ itself: nothing else implies it)
      [zip, ["pack.yaml"]],
    ] as const) {
      const dest = `${file}.out`;
      const result = await extractArchive(file, dest);
      expect(list(dest)).toEqual(kept);
      expect(result.files).toBe(file === tgz ? 2 : 1);
    }
    // .GIT is git's directory where names fold case: refused, not stored (and checksummed) or skipped
    const upper = join(work.dir, "upper");
    writeTree(upper, { "pack.yaml": "ref: x\nversion: 1.0.0\n", "actions/.Git/config": "[core]\n" });
    const upperTgz = join(work.dir, "upper.tar.gz");
    execFileSync("tar", ["czf", upperTgz, "-C", upper, "."]);
    await expect(extractArchive(upperTgz, join(work.dir, "upper-out"))).rejects.toMatchObject({
      code: "EUNSAFE_ARCHIVE",
      message: expect.stringContaining('".Git" is .git in another case'),
    });
    expect(existsSync(join(work.dir, "upper-out"))).toBe(false);
  });

  it("extracts a plain tar and a zip (directory entries after their files are fine)", async () => {
    const src = sourceTree();
    const plain = join(work.dir, "p.tar");
    await tar.c({ file: plain, cwd: src }, ["pack.yaml", "bin"]);
    expect(await extractArchive(plain, join(work.dir, "t"))).toMatchObject({
      type: "tar",
      files: 2,
      directories: 1,
    });
    const zip = await makeZip(join(work.dir, "p.zip"), (z) => {
      z.addBuffer(Buffer.from("#!/bin/sh\n"), "bin/run", { mode: 0o100755 });
      z.addEmptyDirectory("bin");
      z.addBuffer(Buffer.from("abc"), "pack.yaml", { compress: false });
    });
    const dest = join(work.dir, "z");
    expect(await extractArchive(zip, dest)).toEqual({
      type: "zip",
      files: 2,
      directories: 1,
      bytes: 13,
      trailingBytes: 0,
    });
    expect(statSync(join(dest, "bin/run")).mode & 0o777).toBe(0o755);
  });

  it("refuses what tar tools read differently: an entry after a lone zero block, a pax sparse file", async () => {
    // a ustar header block for a regular file of `size` bytes
    const header = (name: string, size: number) => {
      const h = Buffer.alloc(512);
      h.write(name, 0);
      h.write("0000644\0", 100);
      h.write("0000000\0", 108);
      h.write("0000000\0", 116);
      h.write(`${size.toString(8).padStart(11, "0")}\0`, 124);
      h.write("00000000000\0", 136);
      h.write("        ", 148);
      h.write("0", 156);
      h.write("ustar\u000000", 257);
      let sum = 0;
      for (const b of h) sum += b;
      h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
      return h;
    };
    const file = (name: string, body: string) => {
      const data = Buffer.from(body);
      return Buffer.concat([
        header(name, data.length),
        data,
        Buffer.alloc((512 - (data.length % 512)) % 512),
      ]);
    };
    const lone = join(work.dir, "lone-zero.tar");
    writeFileSync(
      lone,
      Buffer.concat([
        file("pack.yaml", "ref: x\nversion: 1.0.0\n"),
        Buffer.alloc(512), // GNU tar: "A lone zero block"; the archive ends here for it
        file("hidden.txt", "not shown by tar tf"),
        Buffer.alloc(1024),
      ]),
    );
    expect(execFileSync("tar", ["tf", lone], { stdio: ["ignore", "pipe", "ignore"] }).toString()).toBe(
      "pack.yaml\n",
    );
    const dest = join(work.dir, "out");
    await expect(extractArchive(lone, dest)).rejects.toMatchObject({
      code: "EUNSAFE_ARCHIVE",
      message: expect.stringContaining("an entry follows a single zero block"),
    });
    expect(existsSync(dest) ? list(dest) : []).toEqual([]);
    // the same bytes with two zero blocks there end the archive for everyone: hidden.txt is trailing data
    const ended = join(work.dir, "ended.tar");
    writeFileSync(
      ended,
      Buffer.concat([
        file("pack.yaml", "ref: x\nversion: 1.0.0\n"),
        Buffer.alloc(1024),
        file("hidden.txt", "x"),
      ]),
    );
    await extractArchive(ended, join(work.dir, "out2"));
    expect(list(join(work.dir, "out2"))).toEqual(["pack.yaml"]);
    // GNU tar's pax sparse formats (1.0 and 0.1): node-tar would write the sparse map as the bytes
    const sparse = join(work.dir, "sparse");
    writeTree(sparse, { "pack.yaml": "ref: x\nversion: 1.0.0\n" });
    execFileSync("truncate", ["-s", "1M", join(sparse, "holes.bin")]);
    writeFileSync(join(sparse, "holes.bin"), "end", { flag: "a" });
    for (const version of ["1.0", "0.1"]) {
      const archive = join(work.dir, `sparse-${version}.tar.gz`);
      execFileSync("tar", [
        "--sparse",
        `--sparse-version=${version}`,
        "--format=pax",
        "-czf",
        archive,
        "-C",
        sparse,
        ".",
      ]);
      const out = join(work.dir, `sparse-out-${version}`);
      await expect(extractArchive(archive, out)).rejects.toMatchObject({
        code: "EUNSAFE_ARCHIVE",
        message: expect.stringContaining("GNU sparse file"),
        details: { entry: expect.stringMatching(/holes\.bin$/) },
        hint: expect.stringContaining("--no-read-sparse"),
      });
    }
  });

  it("refuses a pax global header that renames every entry after it (GNU tar applies it, node-tar does not)", async () => {
    const archive = join(work.dir, "pax-global.tar");
    const script = [
      "import io, sys, tarfile",
      "t = tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT, pax_headers={'path': '../globalevil.txt'})",
      "for name, data in [('pack.yaml', b'ref: x\\nversion: 1.0.0\\n'), ('x.txt', b'x')]:",
      "    ti = tarfile.TarInfo(name); ti.size = len(data); t.addfile(ti, io.BytesIO(data))",
      "t.close()",
    ].join("\n");
    execFileSync("python3", ["-c", script, archive]);
    // what a reviewer's tar shows: every entry under the global name
    expect(execFileSync("tar", ["tf", archive], { stdio: ["ignore", "pipe", "ignore"] }).toString()).toBe(
      "../globalevil.txt\n../globalevil.txt\n",
    );
    const dest = join(work.dir, "pax-global-out");
    await expect(extractArchive(archive, dest)).rejects.toMatchObject({
      code: "EUNSAFE_ARCHIVE",
      message: expect.stringContaining("a pax global header sets path for every entry after it"),
      hint: expect.stringContaining("rebuild the archive"),
    });
    expect(existsSync(dest) ? list(dest) : []).toEqual([]);
  });

  it("refuses a zip whose central directory holds more entries than its end record counts", async () => {
    // three entries, an end record that says two: yauzl would read two, unzip lists three
    const entries: Array<[string, string]> = [
      ["pack.yaml", "ref: x\nversion: 1.0.0\n"],
      ["x.txt", "1"],
      ["hidden.txt", "2"],
    ];
    const file = join(work.dir, "count.zip");
    writeFileSync(file, storedZip(entries, 2));
    const dest = join(work.dir, "out");
    await expect(extractArchive(file, dest)).rejects.toMatchObject({
      code: "EUNSAFE_ARCHIVE",
      message: expect.stringContaining("more entries than its end record counts"),
    });
    // counted right, the same archive extracts whole
    writeFileSync(file, storedZip(entries));
    await extractArchive(file, join(work.dir, "ok"));
    expect(list(join(work.dir, "ok"))).toEqual(["hidden.txt", "pack.yaml", "x.txt"]);
  });

  it("says a zip entry's compression method is not supported, not that the archive is damaged", async () => {
    const z = storedZip([["pack.yaml", "ref: x\nversion: 1.0.0\n"]]);
    // method 12 (bzip2) in the local and the central header
    z.writeUInt16LE(12, 8);
    z.writeUInt16LE(12, z.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])) + 10);
    const file = join(work.dir, "bzip2.zip");
    writeFileSync(file, z);
    await expect(extractArchive(file, join(work.dir, "out"))).rejects.toMatchObject({
      code: "EUNSAFE_ARCHIVE",
      message: expect.stringContaining("compressed with method 12 (bzip2), which is not supported"),
      details: { entry: "pack.yaml" },
      hint: expect.stringMatching(/^rebuild the zip with deflate/),
    });
  });

  it("reads a zip's names as Info-ZIP writes them: UTF-8 bytes without the UTF-8 flag, else CP437", async () => {
    // `zip -r` on Linux stores café.txt as its UTF-8 bytes and leaves the flag unset; unzip, bsdtar
    // and 7z extract café.txt (yauzl alone read caf├⌐.txt); a legacy DOS zip's CP437 stays CP437
    const file = join(work.dir, "names.zip");
    writeFileSync(
      file,
      storedZip([
        ["pack.yaml", "ref: x\nversion: 1.0.0\n"],
        [Buffer.from("café.txt"), "utf8"],
        [Buffer.from([0x64, 0x6f, 0x73, 0x82, 0x2e, 0x74, 0x78, 0x74]), "cp437"], // "dosé.txt" in CP437
      ]),
    );
    const dest = join(work.dir, "names");
    await extractArchive(file, dest);
    expect(list(dest)).toEqual(["café.txt", "dosé.txt", "pack.yaml"]);
    expect(readFileSync(join(dest, "café.txt"), "utf8")).toBe("utf8");
    // the name checks still apply to names read this way
    writeFileSync(file, storedZip([[Buffer.from("../évil.txt"), "x"]]));
    await expect(extractArchive(file, join(work.dir, "evil"))).rejects.toMatchObject({
      code: "EUNSAFE_ARCHIVE",
    });
  });

  it("keeps an existing empty destination's mode and refuses a non-empty one or a file", async () => {
    const src = sourceTree();
    const file = join(work.dir, "a.tgz");
    await tar.c({ gzip: true, file, cwd: src }, ["pack.yaml"]);
    const staging = join(work.dir, "staging");
    mkdirSync(staging, { mode: 0o700 });
    await extractArchive(file, staging);
    expect(statSync(staging).mode & 0o777).toBe(0o700);
    expect(list(staging)).toEqual(["pack.yaml"]);
    await expect(extractArchive(file, staging)).rejects.toMatchObject({
      code: "EINVALID_INPUT",
      details: { field: "dest" },
    });
    await expect(extractArchive(file, join(src, "pack.yaml"))).rejects.toMatchObject({
      code: "EINVALID_INPUT",
    });
    await expect(extractArchive(join(work.dir, "missing.tgz"), join(work.dir, "m"))).rejects.toMatchObject({
      code: "ENOENT",
    });
  });

  it("enforces every cap, naming the entry, and leaves nothing behind", async () => {
    const src = sourceTree();
    const file = join(work.dir, "caps.tar.gz");
    execFileSync("tar", ["-czf", file, "-C", src, "pack.yaml", "bin", "long-directory-name"]);
    const cases: Array<[Record<string, number>, string]> = [
      [{ maxEntries: 2 }, "maxEntries"],
      [{ maxEntryBytes: 15 }, "maxEntryBytes"],
      [{ maxTotalBytes: 30 }, "maxTotalBytes"],
      [{ maxDepth: 3 }, "maxDepth"],
      [{ maxPathBytes: 50 }, "maxPathBytes"],
    ];
    for (const [limits, limit] of cases) {
      const dest = join(work.dir, "capped", limit);
      mkdirSync(join(work.dir, "capped"), { recursive: true });
      const attempt = extractArchive(file, dest, limits);
      await expect(attempt).rejects.toMatchObject({ code: "ETOO_LARGE", details: { limit } });
      const err = (await attempt.catch((e) => e)) as { details: { entry: string } };
      expect(typeof err.details.entry).toBe("string");
    }
    expect(readdirSync(join(work.dir, "capped"))).toEqual([]);
  });

  it("counts real bytes: a zip whose header under-states its size is refused at the first extra byte", async () => {
    // 64 KiB declared as 64 bytes: patch the uncompressed size yazl wrote in both headers
    const lie = async (name: string, compress: boolean) => {
      const file = await makeZip(join(work.dir, name), (z) =>
        z.addBuffer(Buffer.alloc(65536, 7), "data.bin", { compress }),
      );
      const bytes = readFileSync(file);
      bytes.writeUInt32LE(64, 22);
      bytes.writeUInt32LE(64, bytes.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])) + 24);
      writeFileSync(file, bytes);
      return file;
    };
    await expect(
      extractArchive(await lie("deflated.zip", true), join(work.dir, "out")),
    ).rejects.toMatchObject({
      code: "EUNSAFE_ARCHIVE",
      details: { entry: "data.bin" },
      message: expect.stringMatching(/size header lies/),
    });
    // a stored entry's sizes are cross-checked by yauzl before any byte is read
    await expect(extractArchive(await lie("stored.zip", false), join(work.dir, "out"))).rejects.toMatchObject(
      {
        code: "EUNSAFE_ARCHIVE",
      },
    );
    expect(readdirSync(work.dir).sort()).toEqual(["deflated.zip", "stored.zip"]);
  });

  it("refuses an archive cut short while it is being extracted, without hanging", async () => {
    const src = join(work.dir, "src");
    writeTree(src, { "a.txt": "first", "big.bin": Buffer.alloc(4 * 1024 * 1024, 1) });
    const file = join(work.dir, "changing.tar");
    await tar.c({ file, cwd: src }, ["a.txt", "big.bin"]);
    const whole = readFileSync(file);
    const attempt = extractArchive(
      file,
      join(work.dir, "out"),
      {},
      {
        // runs once a.txt is written: the reader is still far from big.bin's end
        onProgress: () => writeFileSync(file, whole.subarray(0, 2 * 1024 * 1024)),
      },
    );
    await expect(attempt).rejects.toMatchObject({ code: "EUNSAFE_ARCHIVE" });
    expect(readdirSync(work.dir).sort()).toEqual(["changing.tar", "src"]);
  });

  it("refuses a zip entry whose bytes do not match its CRC-32", async () => {
    const file = await makeZip(join(work.dir, "crc.zip"), (z) =>
      z.addBuffer(Buffer.from("hello pack"), "a.txt", { compress: false }),
    );
    const bytes = readFileSync(file);
    bytes[bytes.indexOf("hello pack")] ^= 0x20; // "Hello pack": same size, different CRC
    writeFileSync(file, bytes);
    await expect(extractArchive(file, join(work.dir, "out"))).rejects.toMatchObject({
      code: "EUNSAFE_ARCHIVE",
      details: { entry: "a.txt" },
      message: expect.stringMatching(/CRC-32 mismatch/),
    });
    expect(readdirSync(work.dir)).toEqual(["crc.zip"]);
  });

  it("refuses a gzip stream that is cut short without hanging", async () => {
    const data = gzipSync(Buffer.alloc(10));
    const file = join(work.dir, "short.tar.gz");
    writeFileSync(file, data.subarray(0, data.length - 6));
    await expect(extractArchive(file, join(work.dir, "short"))).rejects.toMatchObject({
      code: "EUNSAFE_ARCHIVE",
    });
  });

  it("refuses a gzip stream that inflates to more than 1000x its size, even under the size caps", async () => {
    const src = join(work.dir, "src");
    writeTree(src, { "pack.yaml": "ref: x\nversion: 1.0.0\n" });
    writeFileSync(join(src, "zeros.bin"), Buffer.alloc(8 * 1024 * 1024)); // deflates ~1026:1
    const plain = join(work.dir, "zeros.tar");
    await tar.c({ file: plain, cwd: src }, ["pack.yaml", "zeros.bin"]);
    const file = join(work.dir, "zeros.tar.gz");
    writeFileSync(file, gzipSync(readFileSync(plain), { level: 9 }));
    await expect(extractArchive(file, join(work.dir, "out"))).rejects.toMatchObject({
      code: "ETOO_LARGE",
      details: { entry: "(archive)", limit: "ratio", value: 1000 },
      hint: expect.stringMatching(/^the decompression-ratio cap is fixed/),
    });
    // the same bytes uncompressed are fine: only the ratio was refused
    await expect(extractArchive(plain, join(work.dir, "plain"))).resolves.toMatchObject({ files: 2 });
    expect(readdirSync(work.dir).sort()).toEqual(["plain", "src", "zeros.tar", "zeros.tar.gz"]);
  });

  it("reads what follows the end-of-archive marker to the end but extracts none of it (as tar does)", async () => {
    const src = join(work.dir, "src");
    writeTree(src, { "pack.yaml": "ref: x\nversion: 1.0.0\n", "a.txt": "a" });
    const plain = join(work.dir, "p.tar");
    await tar.c({ file: plain, cwd: src }, ["pack.yaml", "a.txt"]);
    // another archive after this one's end marker, then 8 MiB of zeros: node-tar kept all of it,
    // concatenating chunk after chunk (minutes of CPU for a few MB of gzipped zeros)
    const other = join(work.dir, "other");
    writeTree(other, { "extra.txt": "must not appear" });
    const second = join(work.dir, "second.tar");
    await tar.c({ file: second, cwd: other }, ["extra.txt"]);
    const trailing = Buffer.concat([readFileSync(second), Buffer.alloc(8 * 1024 * 1024)]);
    const file = join(work.dir, "trailing.tar.gz");
    writeFileSync(file, gzipSync(Buffer.concat([readFileSync(plain), trailing]), { level: 1 }));
    const seen: Buffer[] = [];
    const r = await extractArchive(file, join(work.dir, "out"), {}, { onRead: (c) => seen.push(c) });
    expect(r).toMatchObject({ type: "tar.gz", files: 2 });
    expect(list(join(work.dir, "out"))).toEqual(["a.txt", "pack.yaml"]);
    // all of it but what the parser already held when it saw the marker (one slice at most)
    expect(r.trailingBytes).toBeGreaterThan(trailing.length - 512 * 1024);
    expect(r.trailingBytes).toBeLessThanOrEqual(trailing.length);
    expect(Buffer.concat(seen).equals(readFileSync(file))).toBe(true); // the checksum sees every byte
  });

  it("refuses a stream of nothing but zero blocks as no archive, leaving nothing behind", async () => {
    const file = join(work.dir, "zeros.tar.gz");
    writeFileSync(file, gzipSync(Buffer.alloc(16 * 1024 * 1024), { level: 1 }));
    await expect(extractArchive(file, join(work.dir, "out"))).rejects.toMatchObject({
      code: "EUNSAFE_ARCHIVE",
      message: "the archive holds no files (it is empty or not a tar archive)",
    });
    expect(readdirSync(work.dir)).toEqual(["zeros.tar.gz"]);
  });

  it("refuses a zip with no entries like an empty tar, leaving nothing behind", async () => {
    const file = join(work.dir, "nothing.zip");
    // the end-of-central-directory record alone: a valid zip of zero entries
    writeFileSync(file, Buffer.concat([Buffer.from([0x50, 0x4b, 0x05, 0x06]), Buffer.alloc(18)]));
    await expect(extractArchive(file, join(work.dir, "out"))).rejects.toMatchObject({
      code: "EUNSAFE_ARCHIVE",
      message: "the archive holds no files (it is an empty zip)",
    });
    expect(readdirSync(work.dir)).toEqual(["nothing.zip"]);
  });

  it("refuses a gzip stream holding another gzip stream instead of a tar", async () => {
    const src = join(work.dir, "src");
    writeTree(src, { "pack.yaml": "ref: x\nversion: 1.0.0\n" });
    const inner = join(work.dir, "inner.tar.gz");
    await tar.c({ file: inner, cwd: src, gzip: true }, ["pack.yaml"]);
    const file = join(work.dir, "double.tar.gz");
    writeFileSync(file, gzipSync(readFileSync(inner)));
    await expect(extractArchive(file, join(work.dir, "out"))).rejects.toMatchObject({
      code: "EUNSAFE_ARCHIVE",
      details: { entry: null },
    });
    expect(readdirSync(work.dir).sort()).toEqual(["double.tar.gz", "inner.tar.gz", "src"]);
  });

  it("hands every byte of a tar or tar.gz to onRead, once, in order; a throw refuses the archive", async () => {
    const src = sourceTree();
    for (const [name, flags] of [
      ["a.tar.gz", "-czf"],
      ["a.tar", "-cf"],
    ]) {
      const file = join(work.dir, name);
      execFileSync("tar", [flags, file, "-C", src, "."]);
      const seen: Buffer[] = [];
      await extractArchive(file, join(work.dir, `${name}.out`), {}, { onRead: (c) => seen.push(c) });
      expect(Buffer.concat(seen).equals(readFileSync(file))).toBe(true);
      const stop = new AttuneError(ErrorCodes.ETOO_LARGE, "enough");
      await expect(
        extractArchive(
          file,
          join(work.dir, `${name}.refused`),
          {},
          {
            onRead: () => {
              throw stop;
            },
          },
        ),
      ).rejects.toBe(stop);
    }
    const zip = await makeZip(join(work.dir, "a.zip"), (z) => z.addBuffer(Buffer.from("x"), "x"));
    await expect(
      extractArchive(zip, join(work.dir, "zip.out"), {}, { onRead: () => undefined }),
    ).rejects.toMatchObject({ code: "EINVALID_INPUT" });
    expect(readdirSync(work.dir).sort()).toEqual([
      "a.tar",
      "a.tar.gz",
      "a.tar.gz.out",
      "a.tar.out",
      "a.zip",
      "src",
    ]);
  });

  it("with noFollow, refuses an archive that is a symbolic link", async () => {
    const src = sourceTree();
    const file = join(work.dir, "a.tgz");
    execFileSync("tar", ["-czf", file, "-C", src, "."]);
    symlinkSync(file, join(work.dir, "link.tgz"));
    await expect(
      extractArchive(join(work.dir, "link.tgz"), join(work.dir, "out"), {}, { noFollow: true }),
    ).rejects.toMatchObject({ code: expect.any(String) });
    expect(readdirSync(work.dir).sort()).toEqual(["a.tgz", "link.tgz", "src"]);
    await expect(extractArchive(join(work.dir, "link.tgz"), join(work.dir, "out"))).resolves.toMatchObject({
      type: "tar.gz",
    });
  });

  it("reports progress and stops on abort, cleaning up", async () => {
    const src = sourceTree();
    const file = join(work.dir, "p.tgz");
    execFileSync("tar", ["-czf", file, "-C", src, "."]);
    const seen: number[] = [];
    await extractArchive(file, join(work.dir, "p1"), {}, { onProgress: (p) => seen.push(p.files) });
    expect(seen).toEqual([1, 6]); // the first file, then every 64 files and the last
    const controller = new AbortController();
    controller.abort();
    await expect(
      extractArchive(file, join(work.dir, "p2"), {}, { signal: controller.signal }),
    ).rejects.toMatchObject({ code: "EIO" });
    expect(readdirSync(work.dir).sort()).toEqual(["p.tgz", "p1", "src"]);
  });
});

describe("resolveLimits", () => {
  it("defaults to caps sized for real packs and refuses nonsense", () => {
    expect(resolveLimits()).toEqual(DEFAULT_EXTRACT_LIMITS);
    expect(resolveLimits({ maxDepth: 4 }).maxDepth).toBe(4);
    expect(() => resolveLimits({ maxDepth: 0 })).toThrow(/positive integer/);
    expect(() => resolveLimits({ maxEntries: 1.5 })).toThrow(
      expect.objectContaining({ code: "EINVALID_INPUT" }),
    );
    expect(() => resolveLimits({ maxBogus: 1 } as never)).toThrow(/unknown extraction limit "maxBogus"/);
  });
});

describe("detectArchiveType", () => {
  it("needs the extension and the magic bytes to agree", async () => {
    const tgz = join(work.dir, "a.tgz");
    writeFileSync(tgz, gzipSync(Buffer.alloc(1024)));
    expect(await detectArchiveType(tgz)).toBe("tar.gz");
    const zip = await makeZip(join(work.dir, "a.zip"), (z) => z.addBuffer(Buffer.from("x"), "x"));
    expect(await detectArchiveType(zip)).toBe("zip");
    expect(await detectArchiveType(zip, { name: "download" })).toBe("zip"); // no extension: magic decides
    await expect(detectArchiveType(zip, { name: "pack.tar.gz" })).rejects.toMatchObject({
      code: "EUNSAFE_ARCHIVE",
      message: /named like a tar\.gz archive but its bytes are zip/,
    });
    const plain = join(work.dir, "a.tar");
    await tar.c({ file: plain, cwd: work.dir }, ["a.tgz"]);
    expect(await detectArchiveType(plain)).toBe("tar");
    const empty = join(work.dir, "empty.zip");
    writeFileSync(empty, "");
    await expect(detectArchiveType(empty)).rejects.toMatchObject({ code: "EUNSAFE_ARCHIVE" });
    await expect(detectArchiveType(join(work.dir, "nope.zip"))).rejects.toMatchObject({ code: "ENOENT" });
  });
});
