import { createHash } from "node:crypto";
import {
  chmodSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import * as tar from "tar";
import yazl from "yazl";
import { tmpDir, withEnv, writeTree } from "@attune/test-utils";
import { extractArchive } from "../src/extract";
import { KeptContents } from "../src/extract/kept";
import { resolveLimits } from "../src/extract/limits";
import { TreeWriter } from "../src/extract/writer";
import { WriteThread } from "../src/extract/write-thread";

// Extraction creates small files on a second thread once 64 files were written (write-thread.ts).
// These tests check that what the thread writes is exactly what the main thread would have written,
// that the digests it computes are right, and that a failure on the thread fails the extraction
// cleanly: with the error of the file, and with nothing written after the extraction has failed.

let work: ReturnType<typeof tmpDir>;
beforeEach(() => {
  work = tmpDir("attune-write-thread-");
});
afterEach(() => work.cleanup());

/** `fn` with ATTUNE_IO_THREADS set to `value` (undefined: unset). */
function withThreads<T>(value: string | undefined, fn: () => Promise<T>): Promise<T> {
  return withEnv({ ATTUNE_IO_THREADS: value }, fn);
}

/** 400 files of 0 bytes to 90 KB in nested directories (every 9th executable), 2,000 tiny ones, one of 1.5 MiB. */
function makeSource(dir: string): Record<string, Buffer> {
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < 400; i++) {
    const size = (i * 7919) % 90_000;
    files[`d${i % 5}/e${i % 4}/f${i}.bin`] = Buffer.alloc(size, i % 251);
  }
  // many tiny files too, so the extraction outlasts the thread's start-up whatever the machine's load
  for (let i = 0; i < 2000; i++) files[`tiny/t${i % 10}/f${i}`] = Buffer.from(`${i}`);
  files["big/large.bin"] = Buffer.alloc(1536 * 1024, 7);
  writeTree(dir, files);
  for (let i = 0; i < 400; i += 9) chmodSync(join(dir, `d${i % 5}/e${i % 4}/f${i}.bin`), 0o755);
  return files;
}

/** Every file under `dir`, relative, with "/" separators. */
function listFiles(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[])
    .filter((rel) => statSync(join(dir, rel)).isFile())
    .sort();
}

function snapshot(dir: string): Record<string, { mode: number; sha: string }> {
  return Object.fromEntries(
    listFiles(dir).map((rel) => [
      rel,
      {
        mode: statSync(join(dir, rel)).mode & 0o777,
        sha: createHash("sha256")
          .update(readFileSync(join(dir, rel)))
          .digest("hex"),
      },
    ]),
  );
}

describe("extraction's writing thread", () => {
  it("writes the same tree as the main thread alone (contents, modes), and is really used", async () => {
    const src = join(work.dir, "src");
    makeSource(src);
    const file = join(work.dir, "pack.tar.gz");
    // sorted: big/ comes first, so the 64 files written before the thread starts include the large one
    await tar.c({ file, cwd: src, gzip: true, portable: true }, readdirSync(src).sort());
    const before = WriteThread.filesWritten;
    const threaded = await withThreads(undefined, () => extractArchive(file, join(work.dir, "a")));
    const byThread = WriteThread.filesWritten - before;
    // the first 64 files (the large one, which streams here, and 63 small ones) are written before
    // the thread is started, and more until it has started
    expect(byThread).toBeGreaterThan(0);
    expect(byThread).toBeLessThanOrEqual(2400 - 63);
    const alone = await withThreads("0", () => extractArchive(file, join(work.dir, "b")));
    expect(WriteThread.filesWritten - before).toBe(byThread);
    expect(threaded).toEqual(alone);
    expect(threaded.files).toBe(2401);
    const expected = snapshot(src);
    expect(snapshot(join(work.dir, "a"))).toEqual(expected);
    expect(snapshot(join(work.dir, "b"))).toEqual(expected);
    expect(Object.values(expected).filter((f) => f.mode === 0o755)).toHaveLength(45);
    expect(Object.keys(expected)).toHaveLength(2401);
  });

  it("gives the installer each kept file's bytes and their SHA-256, computed while writing", async () => {
    const src = join(work.dir, "src");
    const files = makeSource(src);
    const file = join(work.dir, "pack.tar");
    await tar.c({ file, cwd: src }, readdirSync(src).sort());
    const kept = new KeptContents();
    const before = WriteThread.filesWritten;
    try {
      await extractArchive(file, join(work.dir, "out"), {}, { kept });
      let digested = 0;
      for (const [rel, bytes] of Object.entries(files)) {
        if (rel === "big/large.bin") {
          expect(kept.get(rel)).toBeUndefined(); // streamed, never kept
          continue;
        }
        expect(kept.get(rel)?.equals(bytes)).toBe(true);
        const digest = kept.digest(rel);
        if (digest !== undefined) {
          expect(digest).toBe(createHash("sha256").update(bytes).digest("hex"));
          digested += 1;
        }
      }
      expect(digested).toBe(WriteThread.filesWritten - before); // the ones the thread wrote
      expect(digested).toBeGreaterThan(0);
    } finally {
      kept.release();
    }
    expect(kept.digest("d0/e0/f0.bin")).toBeUndefined();
  });

  it("extracts a zip of many files through the thread too", async () => {
    const files = Object.fromEntries(
      Array.from({ length: 800 }, (_, i) => [`z${i % 3}/f${i}.txt`, `zip content ${i}\n`.repeat(i % 50)]),
    );
    const file = join(work.dir, "pack.zip");
    const zip = new yazl.ZipFile();
    for (const [rel, content] of Object.entries(files)) zip.addBuffer(Buffer.from(content), rel);
    zip.end();
    await new Promise((resolve) =>
      zip.outputStream.pipe(createWriteStream(file)).on("close", () => resolve(null)),
    );
    const before = WriteThread.filesWritten;
    await extractArchive(file, join(work.dir, "out"));
    expect(WriteThread.filesWritten - before).toBeGreaterThan(0);
    for (const [rel, content] of Object.entries(files)) {
      expect(readFileSync(join(work.dir, "out", rel), "utf8")).toBe(content);
    }
  });

  it("refuses a bad entry after hundreds of threaded writes and writes nothing after failing", async () => {
    const src = join(work.dir, "src");
    makeSource(src);
    const entries = readdirSync(src);
    symlinkSync("/etc/passwd", join(src, "zz-link")); // node-tar adds it as a link: put it last
    const file = join(work.dir, "late.tar.gz");
    await tar.c({ file, cwd: src, gzip: true }, [...entries, "zz-link"]);
    const out = join(work.dir, "extract");
    mkdirSync(out);
    await expect(extractArchive(file, join(out, "dest"))).rejects.toMatchObject({
      code: "EUNSAFE_ARCHIVE",
      details: { entry: "zz-link" },
    });
    expect(readdirSync(out)).toEqual([]);
    await sleep(200); // a straggling write would show up now
    expect(readdirSync(out)).toEqual([]);
  });
});

describe("bounds", () => {
  it("the kept budget counts each shared slab a kept file holds in full, and an empty file holds none", () => {
    const MiB = 1024 * 1024;
    const kept = new KeptContents(6 * MiB);
    const start = KeptContents.processBytes();
    try {
      const a = Buffer.from(new SharedArrayBuffer(4 * MiB));
      const b = Buffer.from(new SharedArrayBuffer(4 * MiB));
      expect(kept.keepOwned("a1", a.subarray(0, 10))).toBe(true);
      expect(KeptContents.processBytes() - start).toBe(4 * MiB); // the whole slab stays alive
      expect(kept.keepOwned("a2", a.subarray(16, 30))).toBe(true); // same slab: nothing more
      expect(KeptContents.processBytes() - start).toBe(4 * MiB);
      expect(kept.keepOwned("b1", b.subarray(0, 1))).toBe(false); // a second slab would pass 6 MiB
      expect(kept.keepOwned("empty", b.subarray(8, 8))).toBe(true);
      expect(kept.get("empty")!.buffer).not.toBe(b.buffer); // kept without pinning b
      expect(KeptContents.processBytes() - start).toBe(4 * MiB);
    } finally {
      kept.release();
    }
    expect(KeptContents.processBytes()).toBe(start);
  });

  it("an archive cannot pin slabs past the kept budget with empty files between large ones", async () => {
    const src = join(work.dir, "src");
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 80; i++) files[`pad/p${i}.txt`] = Buffer.from(`${i}`); // past the first 64
    for (let g = 0; g < 6; g++) {
      for (let i = 0; i < 4; i++) files[`g${g}/big${i}.bin`] = Buffer.alloc(1024 * 1024 - 512, g);
      files[`g${g}/zz-empty`] = Buffer.alloc(0);
    }
    writeTree(src, files);
    const file = join(work.dir, "pin.tar");
    await tar.c({ file, cwd: src }, ["pad", ...Array.from({ length: 6 }, (_, g) => `g${g}`)]);
    const budget = 64 * 1024; // room for the small files, not for one slab
    const kept = new KeptContents(budget);
    try {
      await extractArchive(file, join(work.dir, "out"), {}, { kept });
      const shared = Object.keys(files).filter((rel) => kept.get(rel)?.buffer instanceof SharedArrayBuffer);
      // no file of the thread's slabs is kept (each would hold 4 MiB), however many empty files come
      expect(shared).toEqual([]);
      expect(kept.get("g5/zz-empty")?.length ?? 0).toBe(0);
    } finally {
      kept.release();
    }
  });

  it("a zip waits for the writing thread's queue too (its bodies are collected concurrently)", async () => {
    const files = Object.fromEntries(
      Array.from({ length: 1500 }, (_, i) => [`z${i % 5}/f${i}.bin`, Buffer.alloc(16 * 1024, i % 251)]),
    );
    const file = join(work.dir, "wide.zip");
    const zip = new yazl.ZipFile();
    for (const [rel, content] of Object.entries(files)) zip.addBuffer(content, rel, { compress: false });
    zip.end();
    await new Promise((resolve) =>
      zip.outputStream.pipe(createWriteStream(file)).on("close", () => resolve(null)),
    );
    const bound = WriteThread.maxQueuedBytes;
    WriteThread.maxQueuedBytes = 128 * 1024;
    WriteThread.peakQueuedBytes = 0;
    try {
      await extractArchive(file, join(work.dir, "out"));
    } finally {
      WriteThread.maxQueuedBytes = bound;
    }
    // a batch is posted whole (up to 64 files here): the queue may pass the bound by one batch
    expect(WriteThread.peakQueuedBytes).toBeGreaterThan(0);
    expect(WriteThread.peakQueuedBytes).toBeLessThanOrEqual(128 * 1024 + 64 * 16 * 1024);
    expect(readFileSync(join(work.dir, "out", "z4/f1499.bin")).equals(files["z4/f1499.bin"])).toBe(true);
  });
});

describe("TreeWriter with a failing writing thread", () => {
  it("fails with the thread's system error naming the file, and stops writing", async () => {
    const root = join(work.dir, "root");
    mkdirSync(root);
    const writer = new TreeWriter(root, resolveLimits({}), undefined, undefined, true);
    const body = async function* (s: string) {
      yield Buffer.from(s);
    };
    await writer.file("d/first", body("first"), 5, false);
    // files are written here until the thread has started: write until one went through it
    const before = WriteThread.filesWritten;
    for (let i = 0; WriteThread.filesWritten === before && i < 20_000; i++) {
      await writer.file(`w/f${i}`, body("x"), 1, false);
      if (i % 64 === 63) await sleep(5); // a batch is posted every 64 files
    }
    expect(WriteThread.filesWritten).toBeGreaterThan(before);
    // the writer made d/ and remembers it; take it away so the thread's next create fails
    rmSync(join(root, "d"), { recursive: true });
    await writer.file("d/late", body("late"), 4, false);
    await writer.file("e/after", body("after"), 5, false);
    await expect(writer.finish()).rejects.toMatchObject({
      code: "ENOENT",
      path: join(root, "d", "late"),
    });
    // the failure stopped the thread: nothing after it was written, and later files are refused
    expect(existsSync(join(root, "e", "after"))).toBe(false);
    await expect(writer.file("e/more", body("more"), 4, false)).rejects.toMatchObject({ code: "ENOENT" });
  });
});

describe("WriteThread", () => {
  it("never overwrites: an existing file is EEXIST and keeps its bytes", async () => {
    const existing = join(work.dir, "existing");
    writeFileSync(existing, "original");
    const t = WriteThread.open()!;
    expect(t).not.toBeNull();
    while (!t.ready) await sleep(5);
    t.write(join(work.dir, "new"), t.copy(Buffer.from("new")), 0o644, false);
    t.write(existing, t.copy(Buffer.from("replaced")), 0o644, false);
    t.write(join(work.dir, "skipped"), t.copy(Buffer.from("skipped")), 0o644, false);
    const failure = await t.finish();
    expect(failure).toMatchObject({ code: "EEXIST", target: existing, step: "cannot create" });
    expect(readFileSync(existing, "utf8")).toBe("original");
    expect(readFileSync(join(work.dir, "new"), "utf8")).toBe("new");
    expect(existsSync(join(work.dir, "skipped"))).toBe(false);
  });

  it("stop() skips what was not written yet and resolves once the thread is idle", async () => {
    const t = WriteThread.open()!;
    while (!t.ready) await sleep(5);
    const dir = join(work.dir, "many");
    mkdirSync(dir);
    const data = t.copy(Buffer.alloc(4096, 1));
    for (let i = 0; i < 5000; i++) t.write(join(dir, `f${i}`), data, 0o644, false);
    t.flush();
    await t.stop();
    const written = readdirSync(dir).length;
    expect(written).toBeLessThan(5000);
    await sleep(100);
    expect(readdirSync(dir)).toHaveLength(written);
  });

  it("gives digests only of files it wrote: none for those a stop skipped", async () => {
    const t = WriteThread.open()!;
    while (!t.ready) await sleep(5);
    const dir = join(work.dir, "digests");
    mkdirSync(dir);
    const data = t.copy(Buffer.from("digest me"));
    let digested = 0;
    for (let i = 0; i < 3000; i++) t.write(join(dir, `f${i}`), data, 0o644, false, () => (digested += 1));
    t.flush();
    await t.stop();
    expect(digested).toBe(readdirSync(dir).length);
    expect(digested).toBeLessThan(3000);
  });

  it("is not used when ATTUNE_IO_THREADS=0", async () => {
    await withThreads("0", async () => expect(WriteThread.open()).toBeNull());
  });
});
