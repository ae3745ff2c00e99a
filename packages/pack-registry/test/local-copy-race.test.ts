import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import {
  HELPER_MIN_FILES,
  calculateDirectoryChecksum,
  calculateDirectoryManifest,
  readerThreadStats,
  stopReaderThread,
} from "@attune/pack-storage";
import { tmpDir } from "@attune/test-utils";
import { localDirectorySource } from "../src/sources/local-directory";
import { walkTree } from "../src/sources/local-copy/walk";
import { resolveLimits } from "../src/extract/limits";
import type { FetchContext } from "../src/sources/types";

// Files are copied in sorted order: when the first one is reported done, the last ones have not
// been opened yet, so a progress callback can swap them deterministically. Run with 80 files (the
// main thread copies alone) and with 1,500 (over HELPER_MIN_FILES: a helper thread copies chunks
// too, but at most 16 chunks of 64 files ahead of the file in hand, so files from index 1,024 on
// are still untouched at the first progress report).
const name = (i: number) => `f${String(i).padStart(4, "0")}.txt`;

let work: ReturnType<typeof tmpDir>;
let src: string;
let staging: string;
function makeTree(files: number): void {
  work = tmpDir("attune-local-race-");
  src = join(work.dir, "src");
  staging = join(work.dir, "staging");
  mkdirSync(staging);
  mkdirSync(join(src, "sub"), { recursive: true });
  for (let i = 0; i < files; i++) writeFileSync(join(src, name(i)), `file ${i}\n`);
  writeFileSync(join(src, "sub", "run.sh"), "#!/bin/sh\n");
  chmodSync(join(src, "sub", "run.sh"), 0o755);
}
afterEach(() => work.cleanup());

/** A context whose first progress report runs `swap` once, while the copy is under way. */
function swapping(swap: () => void): FetchContext {
  let done = false;
  const ctx: Partial<FetchContext> = {
    onProgress: () => {
      if (!done) {
        done = true;
        swap();
      }
    },
  };
  return ctx as FetchContext;
}

describe.each([{ FILES: 80 }, { FILES: 1500 }])(
  "localDirectorySource with $FILES files: changed between the walk and the copy",
  ({ FILES }) => {
    const last = name(FILES - 1);
    const beforeLast = name(FILES - 2);
    beforeEach(() => makeTree(FILES));

    it("copies many files, byte for byte, with 0755/0644 modes, hashed as they are copied", async () => {
      const sourceChecksum = await calculateDirectoryChecksum(src); // over the threshold: boots the helper
      await readerThreadStats().idle;
      const before = readerThreadStats().filesRead;
      const result = await localDirectorySource(src).fetch(staging, {} as FetchContext);
      await readerThreadStats().idle;
      // over the threshold the (booted) helper thread copied a share; under it, none
      if (FILES >= HELPER_MIN_FILES) expect(readerThreadStats().filesRead).toBeGreaterThan(before);
      else expect(readerThreadStats().filesRead).toBe(before);
      expect(result.details).toMatchObject({ files: FILES + 1 });
      expect(readdirSync(staging).length).toBe(FILES + 1);
      expect(statSync(join(staging, "sub", "run.sh")).mode & 0o777).toBe(0o755);
      expect(statSync(join(staging, name(0))).mode & 0o777).toBe(0o644);
      expect(statSync(join(staging, last)).mode & 0o777).toBe(0o644);
      const onDisk = await calculateDirectoryManifest(staging);
      expect(onDisk.checksum).toBe(sourceChecksum);
      expect(result.treeHash).toEqual({ root: "", checksum: onDisk.checksum, files: onDisk.files });
    });

    it("refuses a file replaced by a symbolic link after the walk, naming it, and leaves staging empty", async () => {
      const ctx = swapping(() => {
        rmSync(join(src, last));
        symlinkSync("/etc/passwd", join(src, last));
      });
      const attempt = localDirectorySource(src).fetch(staging, ctx);
      await expect(attempt).rejects.toMatchObject({ code: "ESYMLINK", details: { entry: last } });
      await expect(attempt).rejects.toThrow(`${last} is a symbolic link`);
      expect(readdirSync(staging)).toEqual([]);
      expect(readdirSync(work.dir).sort()).toEqual(["src", "staging"]);
    });

    it("with local source roots, refuses a directory swapped for a link to outside after the walk", async () => {
      const outside = join(work.dir, "outside");
      mkdirSync(outside);
      writeFileSync(join(outside, "run.sh"), "secret from outside the root\n");
      const swap = () => {
        rmSync(join(src, "sub"), { recursive: true });
        symlinkSync(outside, join(src, "sub"));
      };
      const confined = { ...swapping(swap), localSourceRoots: [work.dir] } as FetchContext;
      const attempt = localDirectorySource(src).fetch(staging, confined);
      await expect(attempt).rejects.toMatchObject({ code: "ESYMLINK", details: { entry: "sub/run.sh" } });
      await expect(attempt).rejects.toThrow(/resolves outside the source directory/);
      expect(readdirSync(staging)).toEqual([]);
    });

    it("refuses a file replaced by a FIFO after the walk without hanging", async () => {
      const ctx = swapping(() => {
        rmSync(join(src, last));
        execFileSync("mkfifo", [join(src, last)]);
      });
      await expect(localDirectorySource(src).fetch(staging, ctx)).rejects.toMatchObject({
        code: "ESPECIAL_FILE",
        details: { entry: last },
      });
      expect(readdirSync(staging)).toEqual([]);
    });

    it("refuses a file replaced by a directory after the walk", async () => {
      const ctx = swapping(() => {
        rmSync(join(src, last));
        mkdirSync(join(src, last));
      });
      await expect(localDirectorySource(src).fetch(staging, ctx)).rejects.toMatchObject({
        code: "ESPECIAL_FILE",
        details: { entry: last },
        message: expect.stringMatching(/changed from a file to a directory/),
      });
      expect(readdirSync(staging)).toEqual([]);
    });

    it("reports a file removed after the walk as ENOENT and names the earliest failing file", async () => {
      const ctx = swapping(() => {
        rmSync(join(src, beforeLast));
        rmSync(join(src, last));
      });
      await expect(localDirectorySource(src).fetch(staging, ctx)).rejects.toMatchObject({
        code: "ENOENT",
        path: join(src, beforeLast),
      });
      expect(readdirSync(staging)).toEqual([]);
    });

    it("checks the caps on the opened file, so one that grew past maxEntryBytes is refused", async () => {
      const ctx = swapping(() => writeFileSync(join(src, last), "x".repeat(4096)));
      await expect(
        localDirectorySource(src, { maxEntryBytes: 1000 }).fetch(staging, ctx),
      ).rejects.toMatchObject({
        code: "ETOO_LARGE",
        details: { entry: last, limit: "maxEntryBytes", value: 4096 },
      });
      expect(readdirSync(staging)).toEqual([]);
    });
  },
);

describe("localDirectorySource over the helper threshold: the helper's failures", () => {
  beforeEach(() => makeTree(1500));

  it("the walk starts the helper thread once it has found enough files, so it has booted for the copy", async () => {
    await stopReaderThread();
    expect(readerThreadStats().running).toBe(false);
    const small = join(work.dir, "small");
    mkdirSync(small);
    for (let i = 0; i < 10; i++) writeFileSync(join(small, name(i)), "x");
    await walkTree(small, resolveLimits({}));
    expect(readerThreadStats().running).toBe(false); // a small tree is copied by this thread alone
    const tree = await walkTree(src, resolveLimits({}));
    expect(tree.files).toHaveLength(1501);
    expect(readerThreadStats().running).toBe(true); // started by the walk, before any copy asked
  });

  it("the helper thread stopped mid-copy changes nothing: same files, same hash", async () => {
    await calculateDirectoryChecksum(src); // a booted helper
    await readerThreadStats().idle;
    let stopping: Promise<void> | undefined;
    const ctx = { onProgress: () => void (stopping ??= stopReaderThread()) } as unknown as FetchContext;
    const result = await localDirectorySource(src).fetch(staging, ctx);
    await stopping;
    expect(stopping).toBeDefined();
    expect(readerThreadStats().running).toBe(false);
    const onDisk = await calculateDirectoryManifest(staging);
    expect(onDisk.checksum).toBe(await calculateDirectoryChecksum(src));
    expect(result.treeHash).toEqual({ root: "", checksum: onDisk.checksum, files: onDisk.files });
  });

  it("refuses a tree over maxTotalBytes with ETOO_LARGE and leaves staging empty", async () => {
    await calculateDirectoryChecksum(src);
    await readerThreadStats().idle;
    await expect(
      localDirectorySource(src, { maxTotalBytes: 4000 }).fetch(staging, {} as FetchContext),
    ).rejects.toMatchObject({
      code: "ETOO_LARGE",
      details: { limit: "maxTotalBytes" },
    });
    expect(readdirSync(staging)).toEqual([]);
  });
});
