import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "@jest/globals";
import * as tar from "tar";
import { tmpDir, writeTree } from "@attune/test-utils";
import { extractArchive } from "../src/extract";
import { WriteThread } from "../src/extract/write-thread";

// A writing thread that fails to start (say, under memory pressure in the API) must not fail the
// extraction: nothing is posted to a thread before it says it listens, the files are written on the
// main thread, and later extractions do not try again. Its own file: the "broken" state it leaves
// lasts for the module's life.

const workerThreads = createRequire(import.meta.url)(
  "node:worker_threads",
) as typeof import("node:worker_threads");
const RealWorker = workerThreads.Worker;
const work = tmpDir("attune-write-thread-start-");

beforeAll(() => {
  // every thread started from now on dies before its first message
  workerThreads.Worker = class extends RealWorker {
    constructor(_source: string | URL, options?: import("node:worker_threads").WorkerOptions) {
      super('throw new Error("cannot start")', { ...options, eval: true });
    }
  } as typeof RealWorker;
});
afterAll(() => {
  workerThreads.Worker = RealWorker;
  work.cleanup();
});

it("extracts everything on the main thread when the writing thread dies before it starts", async () => {
  const src = join(work.dir, "src");
  const files = Object.fromEntries(
    Array.from({ length: 300 }, (_, i) => [`d${i % 4}/f${i}.txt`, `file ${i}\n`]),
  );
  writeTree(src, files);
  const file = join(work.dir, "pack.tar");
  await tar.c({ file, cwd: src }, readdirSync(src));
  const before = WriteThread.filesWritten;
  const first = await extractArchive(file, join(work.dir, "a"));
  expect(first.files).toBe(300);
  // (the extraction may have finished, and stopped its thread, before the thread failed)
  // a thread that dies on its own before its first message: later extractions do not start one
  if (!WriteThread.stats().broken) {
    const t = WriteThread.open()!;
    while (!t.gone) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(t.ready).toBe(false);
  }
  expect(WriteThread.stats().broken).toBe(true);
  expect(WriteThread.open()).toBeNull();
  const second = await extractArchive(file, join(work.dir, "b"));
  expect(second).toEqual(first);
  expect(WriteThread.filesWritten).toBe(before);
  for (const [rel, content] of Object.entries(files)) {
    expect(readFileSync(join(work.dir, "a", rel), "utf8")).toBe(content);
    expect(readFileSync(join(work.dir, "b", rel), "utf8")).toBe(content);
  }
});
