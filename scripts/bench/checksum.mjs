#!/usr/bin/env node
// Checksum benchmark (issue 2, DESIGN.md §3/§9): whole-process `attune pack checksum <dir>` against
// the baseline `find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum` on the small,
// many and big corpora; medians of >= 5 interleaved runs, their ratio, an in-process throughput
// figure for the library, and a correctness check of every digest against a reference.
//   node scripts/bench/checksum.mjs [--corpus=small,many,big] [--runs=N] [--json] [--markdown]
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ensureCorpus } from "./corpus.mjs";
import { referenceDirectoryChecksum, referenceFileChecksum } from "./lib/reference.mjs";
import { machine, median, runsFromEnv, timeProcess } from "./lib/timing.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const opt = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const asJson = process.argv.includes("--json");
const runs = Math.max(5, Number(opt("runs") ?? runsFromEnv()));
const corpora = (opt("corpus") ?? "small,many,big").split(",");
const log = (m) => (asJson ? process.stderr : process.stdout).write(`${m}\n`);

const cliBin = path.join(root, "apps/cli/dist/bin.js");
const libUrl = pathToFileURL(path.join(root, "packages/pack-storage/dist/index.js")).href;
const BASELINE = "find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum";
const digestOf = (out) => /sha256:[0-9a-f]{64}/.exec(out)?.[0];

// The CLI when it is built; until then a tiny script calling the built library (said in the output).
const libSubject = {
  kind: "library script (CLI not built)",
  args: (p) => [
    "--input-type=module",
    "-e",
    `import * as m from ${JSON.stringify(libUrl)};
      const p = ${JSON.stringify(p)}; const d = (await import("node:fs")).statSync(p).isDirectory();
      console.log(await (d ? m.calculateDirectoryChecksum(p) : m.calculateFileChecksum(p)));`,
  ],
};
function subject() {
  const lib = libSubject;
  if (!fs.existsSync(cliBin)) return lib;
  const cli = {
    kind: "attune CLI (apps/cli/dist/bin.js)",
    args: (p) => [cliBin, "pack", "checksum", p, "-o", "json"],
  };
  try {
    return digestOf(timeProcess(process.execPath, cli.args(path.join(root, "package.json"))).stdout)
      ? cli
      : lib;
  } catch {
    return lib;
  }
}

// The library alone, timed inside one process (no start-up), median of `runs`.
function inProcessMs(dir) {
  const script = `import * as m from ${JSON.stringify(libUrl)}; const t = [];
    for (let i = 0; i < ${runs}; i++) { const s = performance.now(); await m.calculateDirectoryChecksum(${JSON.stringify(dir)}); t.push(performance.now() - s); }
    t.sort((a, b) => a - b); console.log(t[t.length >> 1]);`;
  return Number(timeProcess(process.execPath, ["--input-type=module", "-e", script]).stdout.trim());
}

const sub = subject();
const m = machine();
log(`machine: ${m.cpu}, ${m.cores} cores, Node ${m.node}, load average ${m.load}`);
log(`subject: ${sub.kind}; baseline: ${BASELINE}; ${runs} runs each, interleaved, after one warm-up`);
const bare = Array.from({ length: runs }, () => timeProcess(process.execPath, ["-e", "0"]));
const nodeStart = { ms: median(bare.map((t) => t.ms)), cpuMs: median(bare.map((t) => t.cpuMs)) };
log(`bare \`node -e 0\`: ${nodeStart.ms.toFixed(0)} ms wall, ${nodeStart.cpuMs.toFixed(0)} ms CPU (medians)`);

const results = [];
let wrong = 0;
for (const name of corpora) {
  const c = ensureCorpus(name, log);
  const reference = referenceDirectoryChecksum(c.dir);
  const ours = () => timeProcess(process.execPath, sub.args(c.dir));
  const base = () => timeProcess("bash", ["-c", BASELINE], { cwd: c.dir });
  const first = ours();
  base();
  const correct = digestOf(first.stdout) === reference;
  if (!correct) wrong++;
  const tOurs = [];
  const tBase = [];
  for (let i = 0; i < runs; i++) {
    tOurs.push(ours());
    tBase.push(base());
  }
  const med = (ts, key) => median(ts.map((t) => t[key]));
  const r = { corpus: name, files: c.files, bytes: c.bytes, correct };
  Object.assign(r, { oursMs: med(tOurs, "ms"), baselineMs: med(tBase, "ms") });
  Object.assign(r, { oursCpuMs: med(tOurs, "cpuMs"), baselineCpuMs: med(tBase, "cpuMs") });
  r.ratio = r.baselineMs / r.oursMs;
  r.cpuRatio = r.baselineCpuMs / r.oursCpuMs;
  if (sub !== libSubject) {
    // the same work in a bare library script, to show what the CLI's own start-up costs
    const lib = Array.from({ length: runs }, () => timeProcess(process.execPath, libSubject.args(c.dir)));
    Object.assign(r, { libProcessMs: med(lib, "ms"), libProcessCpuMs: med(lib, "cpuMs") });
  }
  r.inProcessMs = inProcessMs(c.dir);
  r.inProcessGBps = c.bytes / 1e6 / r.inProcessMs;
  if (name === "big") {
    // the file (archive) checksum path as well, through the same command
    const file = path.join(c.dir, "big.bin");
    r.fileChecksumCorrect =
      digestOf(timeProcess(process.execPath, sub.args(file)).stdout) === referenceFileChecksum(file);
    if (!r.fileChecksumCorrect) wrong++;
  }
  results.push(r);
  const ms = (v) => `${v.toFixed(0)} ms`;
  log(
    `${name}: ${c.files} files, ${(c.bytes / 1e6).toFixed(1)} MB | wall: attune ${ms(r.oursMs)}, baseline ${ms(r.baselineMs)}, ` +
      `${r.ratio.toFixed(2)}x | CPU: attune ${ms(r.oursCpuMs)}, baseline ${ms(r.baselineCpuMs)}, ${r.cpuRatio.toFixed(2)}x | ` +
      (r.libProcessMs
        ? `library script process ${ms(r.libProcessMs)} (CPU ${ms(r.libProcessCpuMs)}) | `
        : "") +
      `library in process ${ms(r.inProcessMs)} = ${r.inProcessGBps.toFixed(2)} GB/s | ` +
      `digest ${correct ? "matches reference" : `WRONG (${digestOf(first.stdout)} != ${reference})`}`,
  );
}

const by = Object.fromEntries(results.map((r) => [r.corpus, r]));
const targets = [
  by.big && ["big: library >= 1.0 GB/s in process", by.big.inProcessGBps >= 1.0],
  by.big && ["big: whole process <= ~0.5 s", by.big.oursMs <= 550],
  by.many && ["many: >= 2x faster than the baseline (wall)", by.many.ratio >= 2],
  by.many && ["many: >= 2x less CPU than the baseline", by.many.cpuRatio >= 2],
  by.small && ["small: whole process <= 0.12 s", by.small.oursMs <= 120],
].filter(Boolean);
for (const [what, ok] of targets) log(`target ${ok ? "MET   " : "MISSED"} ${what}`);

if (process.argv.includes("--markdown")) {
  const head = [
    "corpus",
    "files",
    "MB",
    "attune wall",
    "baseline wall",
    "wall ratio",
    "attune CPU",
    "baseline CPU",
  ];
  head.push("CPU ratio", "library in process", "digest");
  log(`\n| ${head.join(" | ")} |\n|${head.map(() => "---").join("|")}|`);
  for (const r of results) {
    const cells = [r.corpus, r.files, (r.bytes / 1e6).toFixed(1), `${r.oursMs.toFixed(0)} ms`];
    cells.push(`${r.baselineMs.toFixed(0)} ms`, `${r.ratio.toFixed(2)}x`, `${r.oursCpuMs.toFixed(0)} ms`);
    cells.push(`${r.baselineCpuMs.toFixed(0)} ms`, `${r.cpuRatio.toFixed(2)}x`);
    cells.push(
      `${r.inProcessMs.toFixed(0)} ms (${r.inProcessGBps.toFixed(2)} GB/s)`,
      r.correct ? "ok" : "WRONG",
    );
    log(`| ${cells.join(" | ")} |`);
  }
}
if (asJson) {
  const out = { machine: m, subject: sub.kind, runs, nodeStart, results };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}
process.exit(wrong ? 1 : 0);
