#!/usr/bin/env node
// Floor benchmark (issue 7): how fast could `pack checksum` and `pack install` of the `many` corpus
// be on this machine at best? It times the primitives every implementation of the contracts must
// pay, each alone, warm, with nothing else of the product around them:
//   boot      `node -e 0`
//   Hf        the framed checksum: one SHA-256 over every file's bytes plus a frame per file, in
//             order (DESIGN.md §3; one stream, so one thread), from memory
//   Hm        the per-file manifest: one SHA-256 per file, from memory
//   Ha        the archive's checksum: one SHA-256 over the .tar.gz file's bytes, from memory (a
//             local archive install records it and accepts it as the caller's `--checksum`)
//   R1 / R2   reading every file (open, fstat, read, close), on one thread / two threads (halves)
//   C1 / C2   copying every file into a fresh tree, on one thread / two threads (halves)
//   W1        writing every file from memory into a fresh tree, one thread
//   Z         inflating the pack's .tar.gz (one gzip stream, so one thread), streamed in 1 MiB
//             pieces to nowhere as the product does (gunzipSync of the whole file, measured here
//             before, also pays for a fresh 100 MB result each time: 2.6x the time on a VM whose
//             page faults cost 11 µs)
// and the product's own fixed costs, whole process: `pack checksum` and `pack install` of a tiny
// pack, and `Zp`: a fresh Node process that only inflates the .tar.gz the same way (start-up, the
// inflation and the first touch of every page it needs, which a warm primitive no longer pays). From them it derives lower bounds: the best of a few ways to share the work between two
// cores, each assuming perfect overlap and no cost beyond the primitives (the tar parser, the walk,
// bookkeeping and garbage collection are free):
//   checksum many  >= fixed(checksum tiny) + min(max(R1, Hf)             one reads, one hashes
//                                                max(R2, Hf, (R1 + Hf) / 2))  both read
//   install dir    >= fixed(install tiny)  + min(max(C1, Hf + Hm)        one copies, one hashes
//                                                max(C2, Hf, (C1 + Hf + Hm) / 2))  both copy
//   install .tgz   >= max(fixed(install tiny) + max(Z, Hf, Ha, (Z + W1 + Hf + Hm + Ha) / 2),
//                         Zp + fixed(install tiny) - boot)       (any Node program: Zp alone)
// and the same with Node's start-up alone as the fixed cost ("any Node program"), next to the
// baselines measured in the same run (cp -r, tar xzf, the sha256sum pipeline) and the targets.
// A target the "this product" bound already misses cannot be met without cutting fixed costs; one
// the "any Node program" bound misses cannot be met by any Node implementation of the contracts.
//   node scripts/bench/floor.mjs [--runs=N] [--json]
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { ensurePackCorpus } from "./lib/packs.mjs";
import { CLI, baseEnv, cliOk, repoRoot, requireBuilt, tempDir } from "./lib/product.mjs";
import { printTable } from "./lib/report.mjs";
import { machine, median, runsFromEnv, timeProcess } from "./lib/timing.mjs";

const opt = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const asJson = process.argv.includes("--json");
const runs = Math.max(5, Number(opt("runs") ?? runsFromEnv()));
const log = (m) => (asJson ? process.stderr : process.stdout).write(`${m}\n`);
const syncDisk = () => spawnSync("sync", { stdio: "ignore" });

requireBuilt();
const pack = ensurePackCorpus("many", { git: false, log });
const tiny = path.join(repoRoot, "examples/packs/hello-world");
const work = tempDir("attune-bench-floor-");

// The primitives, timed inside one process (warm: the median of `runs` after one warm-up each).
const PROBE = String.raw`
import fs from "node:fs";
import crypto from "node:crypto";
import zlib from "node:zlib";
import { Worker } from "node:worker_threads";
const [src, archive, scratch, runs] = [process.argv[1], process.argv[2], process.argv[3], Number(process.argv[4])];
const files = [], dirs = [];
(function walk(rel) {
  for (const e of fs.readdirSync(rel ? src + "/" + rel : src, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const r = rel ? rel + "/" + e.name : e.name;
    if (e.isDirectory()) { dirs.push(r); walk(r); } else files.push(r);
  }
})("");
const contents = files.map((f) => fs.readFileSync(src + "/" + f));
const archiveBytes = fs.readFileSync(archive);
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
let n = 0;
const fresh = () => { const d = scratch + "/t" + n++; fs.mkdirSync(d); for (const r of dirs) fs.mkdirSync(d + "/" + r); return d; };
// the primitive loops, also run by the worker threads (as source: no imports there)
const readRange = (fs, src, files, a, b) => {
  const buf = Buffer.allocUnsafe(1 << 20);
  for (let i = a; i < b; i++) {
    const fd = fs.openSync(src + "/" + files[i], fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    const size = fs.fstatSync(fd).size;
    fs.readSync(fd, buf, 0, size + 1, 0);
    fs.closeSync(fd);
  }
};
const copyRange = (fs, src, dst, files, a, b) => {
  const buf = Buffer.allocUnsafe(1 << 20);
  for (let i = a; i < b; i++) {
    const fd = fs.openSync(src + "/" + files[i], fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    const size = fs.fstatSync(fd).size;
    const got = fs.readSync(fd, buf, 0, size + 1, 0);
    fs.closeSync(fd);
    const out = fs.openSync(dst + "/" + files[i], "wx", 0o644);
    fs.writeSync(out, buf, 0, got);
    fs.closeSync(out);
  }
};
const half = files.length >> 1;
// process.getBuiltinModule: this eval'd worker is an ES module (the probe runs with --input-type=module)
const worker = new Worker("const { parentPort } = process.getBuiltinModule('node:worker_threads'); const fs = process.getBuiltinModule('node:fs');" +
  "const readRange = " + readRange + "; const copyRange = " + copyRange + ";" +
  "parentPort.on('message', (m) => { if (m.dst) copyRange(fs, m.src, m.dst, m.files, m.a, m.b); else readRange(fs, m.src, m.files, m.a, m.b); parentPort.postMessage(0); });",
  { eval: true });
worker.postMessage({ src, files, a: 0, b: 0 });
await new Promise((r) => worker.once("message", r));
const inWorker = (m) => new Promise((r) => { worker.once("message", r); worker.postMessage({ src, files, ...m }); });
async function time(fn) {
  const t = [];
  for (let i = 0; i <= runs; i++) { const s = performance.now(); await fn(); if (i) t.push(performance.now() - s); }
  return median(t);
}
const frame = Buffer.alloc(128, 1);
const out = {
  files: files.length,
  Hf: await time(() => { const h = crypto.createHash("sha256"); for (let i = 0; i < files.length; i++) { h.update(frame.subarray(0, 16 + files[i].length)); h.update(contents[i]); } h.digest(); }),
  Hm: await time(() => { for (const c of contents) crypto.hash("sha256", c, "buffer"); }),
  Ha: await time(() => { const h = crypto.createHash("sha256"); for (let i = 0; i < archiveBytes.length; i += 1 << 20) h.update(archiveBytes.subarray(i, i + (1 << 20))); h.digest(); }),
  R1: await time(() => readRange(fs, src, files, 0, files.length)),
  R2: await time(() => Promise.all([inWorker({ a: 0, b: half }), readRange(fs, src, files, half, files.length)])),
  C1: await time(() => copyRange(fs, src, fresh(), files, 0, files.length)),
  C2: await time(() => { const d = fresh(); return Promise.all([inWorker({ dst: d, a: 0, b: half }), copyRange(fs, src, d, files, half, files.length)]); }),
  W1: await time(() => { const d = fresh(); for (let i = 0; i < files.length; i++) { const o = fs.openSync(d + "/" + files[i], "wx", 0o644); fs.writeSync(o, contents[i]); fs.closeSync(o); } }),
  Z: await time(() => inflate(zlib, fs, archive)),
};
await worker.terminate();
console.log(JSON.stringify(out));
`;
// the product's way of inflating (packages/pack-registry/src/extract/tar-reader.ts): 1 MiB reads,
// 1 MiB output buffers, streamed; shared by the probe above and the Zp process below
const INFLATE = String.raw`
function inflate(zlib, fs, archive) {
  return new Promise((resolve, reject) => {
    const g = zlib.createGunzip({ chunkSize: 1 << 20 });
    g.on("data", () => {}).on("end", resolve).on("error", reject);
    fs.createReadStream(archive, { highWaterMark: 1 << 20 }).on("error", reject).pipe(g);
  });
}
`;

function probe() {
  const scratch = path.join(work.dir, "probe");
  fs.mkdirSync(scratch);
  const r = spawnSync(
    process.execPath,
    ["--input-type=module", "-e", PROBE + INFLATE, pack.dir, pack.archive, scratch, String(runs)],
    { encoding: "utf8", maxBuffer: 1 << 20 },
  );
  fs.rmSync(scratch, { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`probe failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

// whole-process timings, interleaved, `sync` before each run (see install.mjs)
const store = path.join(work.dir, "store");
cliOk(["pack", "list", "-o", "json"], { env: { ATTUNE_HOME: store } }); // a migrated, empty store
let runNo = 0;
const wholeProcess = {
  boot: () => timeProcess(process.execPath, ["-e", "0"]).ms,
  inflateProcess: () =>
    timeProcess(process.execPath, [
      "--input-type=module",
      "-e",
      `import fs from "node:fs"; import zlib from "node:zlib"; ${INFLATE}; await inflate(zlib, fs, process.argv[1]);`,
      pack.archive,
    ]).ms,
  checksumTiny: () => timeProcess(process.execPath, [CLI, "pack", "checksum", tiny, "-o", "json"]).ms,
  installTiny: () => {
    const home = path.join(work.dir, `home-${++runNo}`);
    fs.cpSync(store, home, { recursive: true });
    syncDisk();
    return timeProcess(process.execPath, [CLI, "pack", "install", tiny, "-q", "-o", "json"], {
      env: baseEnv({ ATTUNE_HOME: home }),
    }).ms;
  },
  cpR: () => {
    const d = path.join(work.dir, `cp-${++runNo}`);
    fs.mkdirSync(d);
    syncDisk();
    return timeProcess("cp", ["-r", `${pack.dir}/.`, d]).ms;
  },
  tarXzf: () => {
    const d = path.join(work.dir, `tar-${++runNo}`);
    fs.mkdirSync(d);
    syncDisk();
    return timeProcess("tar", ["xzf", pack.archive, "-C", d]).ms;
  },
  sha256sum: () =>
    timeProcess("bash", ["-c", "find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum"], {
      cwd: pack.dir,
    }).ms,
};

const m = machine();
log(`machine: ${m.cpu}, ${m.cores} cores, Node ${m.node}, load average ${m.load}`);
log(
  `corpus: many pack (${pack.files} files, ${(pack.bytes / 1e6).toFixed(1)} MB); ${runs} runs each, medians`,
);
let p;
const w = {};
try {
  p = probe();
  const samples = Object.fromEntries(Object.keys(wholeProcess).map((k) => [k, []]));
  for (const k of Object.keys(wholeProcess)) wholeProcess[k](); // warm-up
  for (let i = 0; i < runs; i++) for (const [k, f] of Object.entries(wholeProcess)) samples[k].push(f());
  for (const [k, v] of Object.entries(samples)) w[k] = median(v);
} finally {
  work.cleanup();
}

const ms = (x) => `${x.toFixed(0)} ms`;
log(
  `primitives (in process, warm): Hf ${ms(p.Hf)}, Hm ${ms(p.Hm)}, Ha ${ms(p.Ha)}, R1 ${ms(p.R1)}, R2 ${ms(p.R2)}, ` +
    `C1 ${ms(p.C1)}, C2 ${ms(p.C2)}, W1 ${ms(p.W1)}, Z ${ms(p.Z)}`,
);
log(
  `whole process: node -e 0 ${ms(w.boot)}, pack checksum (tiny) ${ms(w.checksumTiny)}, ` +
    `pack install (tiny) ${ms(w.installTiny)}, Zp (inflate only) ${ms(w.inflateProcess)}; baselines: cp -r ${ms(w.cpR)}, tar xzf ${ms(w.tarXzf)}, ` +
    `sha256sum pipeline ${ms(w.sha256sum)}`,
);
// the least work time over the ways of sharing the primitives between the two cores (see the top)
const work2 = {
  checksum: Math.min(Math.max(p.R1, p.Hf), Math.max(p.R2, p.Hf, (p.R1 + p.Hf) / 2)),
  dir: Math.min(Math.max(p.C1, p.Hf + p.Hm), Math.max(p.C2, p.Hf, (p.C1 + p.Hf + p.Hm) / 2)),
  archive: Math.max(p.Z, p.Hf, p.Ha, (p.Z + p.W1 + p.Hf + p.Hm + p.Ha) / 2),
};
// ratio to the baseline as the target states it: checksum "x faster" (baseline / ours), install "x slower"
const cases = [
  {
    name: "checksum many",
    fixed: w.checksumTiny,
    work: work2.checksum,
    base: w.sha256sum,
    faster: true,
    target: 2,
  },
  {
    name: "install many, directory",
    fixed: w.installTiny,
    work: work2.dir,
    base: w.cpR,
    faster: false,
    target: 1.2,
  },
  {
    name: "install many, .tar.gz",
    fixed: w.installTiny,
    work: work2.archive,
    base: w.tarXzf,
    faster: false,
    target: 1.2,
    // a Node program cannot finish before it has started and inflated the whole archive
    atLeast: w.inflateProcess,
  },
];
const results = cases.map((c) => {
  const product = Math.max(c.fixed + c.work, (c.atLeast ?? 0) + c.fixed - w.boot);
  const anyNode = Math.max(w.boot + c.work, c.atLeast ?? 0);
  const ratio = (t) => (c.faster ? c.base / t : t / c.base);
  const meets = (t) => (c.faster ? ratio(t) >= c.target : ratio(t) <= c.target);
  return {
    ...c,
    product,
    anyNode,
    productRatio: ratio(product),
    anyNodeRatio: ratio(anyNode),
    productMeets: meets(product),
    anyNodeMeets: meets(anyNode),
  };
});
const fmt = (r, t) => `${ms(t)} = ${(r.faster ? r.base / t : t / r.base).toFixed(2)}x`;
printTable(
  log,
  ["case", "baseline", "target", "bound, this product's fixed cost", "bound, Node start-up only", "verdict"],
  results.map((r) => [
    r.name,
    ms(r.base),
    r.faster ? `>= ${r.target}x faster` : `<= ${r.target}x`,
    fmt(r, r.product),
    fmt(r, r.anyNode),
    !r.anyNodeMeets
      ? "out of reach for any Node program"
      : !r.productMeets
        ? "out of reach without cutting fixed costs"
        : "reachable in principle",
  ]),
);
if (asJson)
  process.stdout.write(
    `${JSON.stringify({ machine: m, runs, primitives: p, wholeProcess: w, results }, null, 2)}\n`,
  );
