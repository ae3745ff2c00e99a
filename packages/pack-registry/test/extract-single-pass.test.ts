import { createWriteStream, readdirSync, readFileSync, statSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import * as tar from "tar";
import yazl from "yazl";
import { tmpDir, writeTree } from "@attune/test-utils";
import { extractArchive } from "../src/extract";

// Extraction is one pass: entries are written as they are checked, into a private directory that
// only becomes `dest` when the whole archive passed. These tests put the bad entry AFTER many good
// ones (already written by then), so only the cleanup stands between them and a partial pack.

let work: ReturnType<typeof tmpDir>;
beforeEach(() => {
  work = tmpDir("attune-extract-1p-");
});
afterEach(() => work.cleanup());

const many = (n: number): Record<string, string> =>
  Object.fromEntries(
    Array.from({ length: n }, (_, i) => [`d${i % 7}/e${i % 3}/f${i}.txt`, `content ${i}\n`]),
  );

function makeZip(file: string, add: (zip: yazl.ZipFile) => void): Promise<string> {
  const zip = new yazl.ZipFile();
  add(zip);
  zip.end();
  return new Promise((resolve) =>
    zip.outputStream.pipe(createWriteStream(file)).on("close", () => resolve(file)),
  );
}

describe("single-pass extraction", () => {
  it("extracts 500 small tar.gz files in many directories exactly, with counts", async () => {
    const src = join(work.dir, "src");
    const files = many(500);
    writeTree(src, files);
    const file = join(work.dir, "many.tar.gz");
    await tar.c({ file, cwd: src, gzip: true }, readdirSync(src));
    const dest = join(work.dir, "out");
    const result = await extractArchive(file, dest);
    expect(result).toMatchObject({ type: "tar.gz", files: 500 });
    for (const [rel, content] of Object.entries(files)) {
      expect(readFileSync(join(dest, rel), "utf8")).toBe(content);
      expect(statSync(join(dest, rel)).mode & 0o777).toBe(0o644);
    }
  });

  it("refuses a tar whose last entry is a symlink, after writing the others, and leaves nothing", async () => {
    const src = join(work.dir, "src");
    writeTree(src, many(300));
    const file = join(work.dir, "late.tar");
    const entries = readdirSync(src);
    // node-tar adds a symlink as such; put it last so every file before it is already written
    symlinkSync("/etc/passwd", join(src, "zz-link"));
    await tar.c({ file, cwd: src }, [...entries, "zz-link"]);
    await expect(extractArchive(file, join(work.dir, "out"))).rejects.toMatchObject({
      code: "EUNSAFE_ARCHIVE",
      details: { entry: "zz-link" },
    });
    expect(readdirSync(work.dir).sort()).toEqual(["late.tar", "src"]);
  });

  it("refuses a zip with a case collision after 300 concurrently written entries, leaving nothing", async () => {
    const file = await makeZip(join(work.dir, "late.zip"), (z) => {
      for (const [rel, content] of Object.entries(many(300))) z.addBuffer(Buffer.from(content), rel);
      z.addBuffer(Buffer.from("a"), "README.md");
      z.addBuffer(Buffer.from("b"), "readme.md");
    });
    await expect(extractArchive(file, join(work.dir, "out"))).rejects.toMatchObject({
      code: "EUNSAFE_ARCHIVE",
      details: { entry: "readme.md" },
      message: expect.stringMatching(/collides/),
    });
    expect(readdirSync(work.dir)).toEqual(["late.zip"]);
  });

  it("extracts a zip of 300 entries concurrently with every byte and count right", async () => {
    const files = many(300);
    const file = await makeZip(join(work.dir, "ok.zip"), (z) => {
      for (const [rel, content] of Object.entries(files)) z.addBuffer(Buffer.from(content), rel);
    });
    const dest = join(work.dir, "out");
    const bytes = Object.values(files).reduce((n, c) => n + Buffer.byteLength(c), 0);
    expect(await extractArchive(file, dest)).toMatchObject({ type: "zip", files: 300, bytes });
    for (const [rel, content] of Object.entries(files))
      expect(readFileSync(join(dest, rel), "utf8")).toBe(content);
  });

  it("enforces the total-bytes cap across concurrent zip entries, leaving nothing", async () => {
    const file = await makeZip(join(work.dir, "total.zip"), (z) => {
      for (let i = 0; i < 40; i++) z.addBuffer(Buffer.alloc(1000, i), `f${i}.bin`);
    });
    await expect(
      extractArchive(file, join(work.dir, "out"), { maxTotalBytes: 20_500 }),
    ).rejects.toMatchObject({
      code: "ETOO_LARGE",
      details: { limit: "maxTotalBytes" },
    });
    expect(readdirSync(work.dir)).toEqual(["total.zip"]);
  });
});
