// The reader thread: a second thread reads small files while the main thread hashes them in order.
// Whatever it does (helps, skips files, dies mid-job, is disabled), the checksum and the manifest
// must be exactly those of the serial path and of the independent reference.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "@jest/globals";
import crypto from "node:crypto";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { calculateDirectoryChecksum, calculateDirectoryManifest, type FileManifest } from "../src/index";
import { WHOLE_FILE_MAX } from "../src/checksum/read";
import { ParallelReads } from "../src/checksum/parallel-reads";
import {
  HELPER_MIN_FILES,
  layoutBytes,
  layoutViews,
  readChunk,
  ReaderThread,
  type LayoutSpec,
} from "../src/checksum/reader-thread";
import { withEnv } from "@attune/test-utils";
import { bytes, referenceChecksum, tmp } from "./helpers";

const __dirname_of = (url: string) => path.dirname(fileURLToPath(url));
const pathToFileUrl = (p: string) => pathToFileURL(p).href;

let root: string;
let cleanup: () => void;
let serial: { checksum: string; files: FileManifest };

/** A tree over the helper's threshold: 2,400 files in 24 directories, sizes 0..12 KB, two over 1 MiB. */
function buildTree(dir: string): void {
  for (let i = 0; i < 2400; i++) {
    const sub = path.join(dir, `d${i % 24}`, i % 3 === 0 ? "deep" : "");
    fs.mkdirSync(sub, { recursive: true });
    fs.writeFileSync(path.join(sub, `f-${i}.txt`), bytes((i * 37) % 12_000, i + 1));
  }
  fs.writeFileSync(path.join(dir, "d3", "large-a.bin"), bytes(WHOLE_FILE_MAX + 1, 7));
  fs.writeFileSync(path.join(dir, "d18", "deep", "large-b.bin"), bytes(3 * WHOLE_FILE_MAX + 5, 9));
}

/** `fn` with ATTUNE_IO_THREADS set to `value` (undefined: unset). */
function withThreads<T>(value: string | undefined, fn: () => Promise<T>): Promise<T> {
  return withEnv({ ATTUNE_IO_THREADS: value }, fn);
}

beforeAll(async () => {
  const t = tmp();
  cleanup = t.cleanup;
  root = path.join(t.dir, "pack");
  buildTree(root);
  serial = await withThreads("0", () => calculateDirectoryManifest(root));
});
afterAll(async () => {
  await ReaderThread.current()?.terminate();
  cleanup();
});
afterEach(async () => {
  await ReaderThread.current()?.idle();
});

/** A source tree of `n` flat files (content by index), an empty destination, and a copy job over them. */
function copyJob(t: { dir: string }, n: number, content: (i: number) => string) {
  const src = path.join(t.dir, "src");
  const dst = path.join(t.dir, "dst");
  fs.mkdirSync(src);
  fs.mkdirSync(dst);
  const names = Array.from({ length: n }, (_, i) => `f${String(i).padStart(4, "0")}`);
  names.forEach((name, i) => fs.writeFileSync(path.join(src, name), content(i)));
  const open = (maxTotalBytes: number) =>
    ParallelReads.open(
      names.map((name) => path.join(src, name)),
      true,
      {
        dests: names.map((name) => path.join(dst, name)),
        umask: 0o022,
        confine: "",
        maxEntryBytes: 1 << 20,
        maxTotalBytes,
      },
    )!;
  return { src, dst, names, open };
}

describe("reader thread", () => {
  it("the serial path agrees with the reference, and no helper was started for it", () => {
    expect(ReaderThread.current()).toBeNull();
    expect(serial.checksum).toBe(referenceChecksum(root));
    expect(Object.keys(serial.files)).toHaveLength(2402);
    expect(serial.files["d3/large-a.bin"].sha256).toBe(
      crypto
        .createHash("sha256")
        .update(bytes(WHOLE_FILE_MAX + 1, 7))
        .digest("hex"),
    );
  });

  it("with the helper: the same checksum and manifest, and the helper did read chunks", async () => {
    // the first run starts the helper; by the second it has booted and must take a share
    expect(await calculateDirectoryChecksum(root)).toBe(serial.checksum);
    const helper = ReaderThread.current();
    expect(helper).not.toBeNull();
    await helper!.idle();
    const before = helper!.filesRead;
    const m = await calculateDirectoryManifest(root);
    await helper!.idle();
    expect(helper!.filesRead).toBeGreaterThan(before);
    expect(m.checksum).toBe(serial.checksum);
    expect(m.files).toEqual(serial.files);
  });

  it("a tree below the threshold is read on the main thread alone", async () => {
    const t = tmp();
    try {
      for (let i = 0; i < HELPER_MIN_FILES - 1; i++) fs.writeFileSync(path.join(t.dir, `f${i}`), `${i}\n`);
      await ReaderThread.current()?.idle();
      const before = ReaderThread.current()?.filesRead ?? 0;
      expect(await calculateDirectoryChecksum(t.dir)).toBe(referenceChecksum(t.dir));
      await ReaderThread.current()?.idle();
      expect(ReaderThread.current()?.filesRead ?? 0).toBe(before);
    } finally {
      t.cleanup();
    }
  });

  it("the helper dying mid-job changes nothing: the main thread reads the rest", async () => {
    await calculateDirectoryChecksum(root); // a booted helper
    const helper = ReaderThread.current()!;
    await helper.idle();
    let killed: Promise<void> | undefined;
    const m = await calculateDirectoryManifest(root, {
      onProgress: (p) => {
        if (p.files >= 256 && !killed) killed = helper.terminate();
      },
    });
    await killed;
    expect(killed).toBeDefined();
    expect(helper.alive).toBe(false);
    expect(m.checksum).toBe(serial.checksum);
    expect(m.files).toEqual(serial.files);
    // the next job starts a new helper
    expect(await calculateDirectoryChecksum(root)).toBe(serial.checksum);
    expect(ReaderThread.current()).not.toBe(helper);
  });

  it("a helper that dies holding a chunk of a copy: what it created is removed and the main thread copies it all", async () => {
    const t = tmp();
    try {
      const { dst, names, open } = copyJob(t, 1200, (i) => `${i}\n`);
      // a fresh helper: it takes ~30 ms to boot, so this test acts on the job before it can
      await ReaderThread.current()?.terminate();
      const reads = open(1 << 30);
      expect(reads).not.toBeNull();
      const helper = ReaderThread.current()!;
      // as if the helper had claimed chunk 0 and written its first file, half, before dying
      const L = (reads as unknown as { L: { ctl: Int32Array } }).L;
      Atomics.store(L.ctl, 0, 1);
      Atomics.store(L.ctl, 4, 1);
      fs.writeFileSync(path.join(dst, names[0]), "half");
      await helper.terminate();
      expect(helper.alive).toBe(false);
      const got: (string | null)[] = [];
      for (let j = 0; j < names.length; j++) {
        const r = await reads.get(j);
        got.push(r && r.bytes.toString());
      }
      reads.close();
      await reads.settled();
      // chunk 0 (files 0..63) went to the serial path, its half-written file removed first; the rest
      // (read by this thread alone) came back with their bytes and were written
      expect(got.slice(0, 64).every((g) => g === null)).toBe(true);
      expect(got.slice(64)).toEqual(names.slice(64).map((_, i) => `${i + 64}\n`));
      expect(fs.existsSync(path.join(dst, names[0]))).toBe(false);
      expect(fs.readdirSync(dst)).toHaveLength(1200 - 64);
    } finally {
      t.cleanup();
    }
  });

  it("a copy never writes past maxTotalBytes, whichever thread writes", async () => {
    const t = tmp();
    try {
      const { src, dst, names, open } = copyJob(t, 1500, () => "x".repeat(100));
      await calculateDirectoryChecksum(src); // a booted helper, so both threads copy
      await ReaderThread.current()!.idle();
      const cap = 30_000; // 300 of the 1,500 files
      const reads = open(cap);
      let copied = 0;
      for (let j = 0; j < names.length; j++) if (await reads.get(j)) copied++;
      reads.close();
      await reads.settled();
      const onDisk = fs.readdirSync(dst).reduce((n, f) => n + fs.statSync(path.join(dst, f)).size, 0);
      expect(copied).toBe(300);
      expect(onDisk).toBe(cap);
      expect(reads.writtenBytes).toBe(cap);
      // the serial path asks before writing, and is told no once the cap is reached
      expect(reads.reserveWrite(1)).toBe(false);
      expect(reads.writtenBytes).toBe(cap);
    } finally {
      t.cleanup();
    }
  });

  it("two checksums at once: one gets the helper, the other reads alone; both right", async () => {
    const [a, b] = await Promise.all([calculateDirectoryManifest(root), calculateDirectoryChecksum(root)]);
    expect(a.checksum).toBe(serial.checksum);
    expect(a.files).toEqual(serial.files);
    expect(b).toBe(serial.checksum);
  });

  it("bytes the caller knows are used, the others read with the helper", async () => {
    const replaced = "d5/f-5.txt";
    const contents = (rel: string) =>
      rel === replaced
        ? Buffer.from("known\n")
        : rel.endsWith("0.txt")
          ? fs.readFileSync(path.join(root, rel))
          : undefined;
    const m = await calculateDirectoryManifest(root, { contents });
    // the known bytes of d5/f-5.txt win over the file's: only its entry differs
    expect(m.files[replaced]).toEqual({
      size: 6,
      sha256: crypto.createHash("sha256").update("known\n").digest("hex"),
    });
    expect({ ...m.files, [replaced]: serial.files[replaced] }).toEqual(serial.files);
    expect(m.checksum).not.toBe(serial.checksum);
  });

  it("a process whose helper was started but got no job (every file's bytes known) still exits", () => {
    // what `pack install` of a 1,000-file archive does: the walk starts the helper, the bytes kept
    // while extracting leave it nothing to read; the process must end when its work is done
    const dist = path.resolve(__dirname_of(import.meta.url), "../dist/index.js");
    const script = `
      const fs = require("node:fs"), path = require("node:path");
      import(${JSON.stringify(pathToFileUrl(dist))}).then(async (m) => {
        const dir = ${JSON.stringify(root)};
        const sum = await m.calculateDirectoryChecksum(dir, { contents: (rel) => fs.readFileSync(path.join(dir, rel)) });
        process.stdout.write(sum);
      });`;
    const started = Date.now();
    const out = execFileSync(process.execPath, ["-e", script], { timeout: 20_000, encoding: "utf8" });
    expect(out).toBe(serial.checksum);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it("ATTUNE_IO_THREADS=0 starts no helper", async () => {
    const current = ReaderThread.current();
    await current?.terminate();
    await withThreads("0", async () => {
      expect(await calculateDirectoryChecksum(root)).toBe(serial.checksum);
      expect(ReaderThread.acquire()).toBeNull();
    });
    expect(ReaderThread.current()).toBe(current); // nothing new was started
  });
});

describe("readChunk (what the helper reads and what it leaves to the main thread)", () => {
  const spec: LayoutSpec = { slots: 2, slotBytes: 64 * 1024, chunkFiles: 16, wholeMax: 32 * 1024, chunks: 1 };

  it("reads regular files whole and skips links, FIFOs, directories, missing, too big and overflowing files", () => {
    const t = tmp();
    try {
      const p = (name: string) => path.join(t.dir, name);
      fs.writeFileSync(p("a"), "alpha\n");
      fs.writeFileSync(p("empty"), "");
      fs.symlinkSync(p("a"), p("link"));
      execFileSync("mkfifo", [p("fifo")]);
      fs.mkdirSync(p("dir"));
      fs.writeFileSync(p("big"), bytes(32 * 1024 + 1, 3)); // over wholeMax
      fs.writeFileSync(p("fill1"), bytes(30 * 1024, 4));
      fs.writeFileSync(p("fill2"), bytes(30 * 1024, 5)); // still fits: 6 + 30 KiB + 30 KiB + 1 probe byte
      fs.writeFileSync(p("over"), bytes(5 * 1024, 6)); // does not fit in what is left of the slot
      fs.writeFileSync(p("tail"), "z");
      const names = ["a", "empty", "link", "fifo", "dir", "missing", "big", "fill1", "fill2", "over", "tail"];
      const L = layoutViews(new SharedArrayBuffer(layoutBytes(spec)), spec);
      readChunk(fs, crypto, L, 0, { paths: names.map(p), withDigests: true, copy: null });
      const sizes = Array.from(L.sizes.subarray(0, names.length));
      expect(sizes).toEqual([6, 0, -1, -1, -1, -1, -1, 30 * 1024, 30 * 1024, -1, 1]);
      expect(L.ctl[4]).toBe(2); // chunk 0 done
      // contents are packed in order, and each digest is the file's own SHA-256
      let at = 0;
      names.forEach((name, k) => {
        if (sizes[k] < 0) return;
        const want = fs.readFileSync(p(name));
        expect(L.data.subarray(at, at + sizes[k]).equals(want)).toBe(true);
        expect(L.digests.toString("hex", k * 32, k * 32 + 32)).toBe(
          crypto.createHash("sha256").update(want).digest("hex"),
        );
        at += sizes[k];
      });
    } finally {
      t.cleanup();
    }
  });

  it("a stopped job reads nothing more", () => {
    const t = tmp();
    try {
      fs.writeFileSync(path.join(t.dir, "a"), "alpha\n");
      const L = layoutViews(new SharedArrayBuffer(layoutBytes(spec)), spec);
      Atomics.store(L.ctl, 2, 1);
      readChunk(fs, crypto, L, 0, { paths: [path.join(t.dir, "a")], withDigests: false, copy: null });
      expect(L.sizes[0]).toBe(-1);
      expect(L.ctl[4]).toBe(2);
    } finally {
      t.cleanup();
    }
  });

  it("a copy writes each file read to its destination (mode 0755/0644) and leaves the rest, creating nothing for them", () => {
    const t = tmp();
    try {
      const src = path.join(t.dir, "src");
      const dst = path.join(t.dir, "dst");
      const outside = path.join(t.dir, "outside");
      fs.mkdirSync(src);
      fs.mkdirSync(dst);
      fs.mkdirSync(outside);
      fs.writeFileSync(path.join(src, "a"), "alpha\n");
      fs.writeFileSync(path.join(src, "run"), "#!/bin/sh\n", { mode: 0o750 });
      fs.writeFileSync(path.join(src, "huge"), bytes(2048, 2)); // over maxEntryBytes below
      fs.writeFileSync(path.join(src, "taken"), "mine\n");
      fs.writeFileSync(path.join(dst, "taken"), "already there\n"); // O_EXCL: not overwritten
      fs.writeFileSync(path.join(outside, "secret"), "outside\n");
      const names = ["a", "run", "huge", "taken"];
      const paths = [...names.map((n) => path.join(src, n)), path.join(outside, "secret")];
      const dests = [...names, "secret"].map((n) => path.join(dst, n));
      const L = layoutViews(new SharedArrayBuffer(layoutBytes(spec)), spec);
      readChunk(fs, crypto, L, 0, {
        paths,
        withDigests: true,
        copy: { dests, umask: 0o022, confine: `${src}/`, maxEntryBytes: 1024, maxTotalBytes: 1 << 20 },
      });
      expect(Array.from(L.sizes.subarray(0, 5))).toEqual([6, 10, -1, -1, -1]);
      expect(fs.readFileSync(path.join(dst, "a"), "utf8")).toBe("alpha\n");
      expect(fs.statSync(path.join(dst, "a")).mode & 0o777).toBe(0o644);
      expect(fs.statSync(path.join(dst, "run")).mode & 0o777).toBe(0o755);
      expect(fs.readFileSync(path.join(dst, "taken"), "utf8")).toBe("already there\n");
      expect(fs.existsSync(path.join(dst, "huge"))).toBe(false);
      expect(fs.existsSync(path.join(dst, "secret"))).toBe(false); // its real path is outside `confine`
      expect(L.digests.toString("hex", 32, 64)).toBe(
        crypto.createHash("sha256").update("#!/bin/sh\n").digest("hex"),
      );
    } finally {
      t.cleanup();
    }
  });
});
