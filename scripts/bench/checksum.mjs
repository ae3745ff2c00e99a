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
function subject() {
  const lib = {
    kind: "library script (CLI not built)",
    args: (p) => [
      "--input-type=module",
      "-e",
      `import * as m from ${JSON.stringify(libUrl)};
      const p = ${JSON.stringify(p)}; const d = (await import("node:fs")).statSync(p).isDirectory();
      console.log(await (d ? m.calculateDirectoryChecksum(p) : m.calculateFileChecksum(p)));`,
    ],
  };
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
const nodeStart = median(Array.from({ length: runs }, () => timeProcess(process.execPath, ["-e", "0"]).ms));
log(`bare \`node -e 0\` start-up: ${nodeStart.toFixed(0)} ms (median)`);

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
    tOurs.push(ours().ms);
    tBase.push(base().ms);
  }
  const r = {
    corpus: name,
    files: c.files,
    bytes: c.bytes,
    oursMs: median(tOurs),
    baselineMs: median(tBase),
    correct,
  };
  r.ratio = r.baselineMs / r.oursMs;
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
  log(
    `${name.padEnd(5)} ${String(c.files).padStart(6)} files ${(c.bytes / 1e6).toFixed(1).padStart(6)} MB | ` +
      `ours ${r.oursMs.toFixed(0).padStart(5)} ms | baseline ${r.baselineMs.toFixed(0).padStart(5)} ms | ` +
      `baseline/ours ${r.ratio.toFixed(2)}x | library in-process ${r.inProcessMs.toFixed(0)} ms = ${r.inProcessGBps.toFixed(2)} GB/s | ` +
      `digest ${correct ? "matches reference" : `WRONG (${digestOf(first.stdout)} != ${reference})`}`,
  );
}

const by = Object.fromEntries(results.map((r) => [r.corpus, r]));
const targets = [
  by.big && ["big: library >= 1.0 GB/s in process", by.big.inProcessGBps >= 1.0],
  by.big && ["big: whole process <= ~0.5 s", by.big.oursMs <= 550],
  by.many && ["many: >= 2x faster than the baseline", by.many.ratio >= 2],
  by.small && ["small: whole process <= 0.12 s", by.small.oursMs <= 120],
].filter(Boolean);
for (const [what, ok] of targets) log(`target ${ok ? "MET " : "MISSED"}  ${what}`);
if (process.argv.includes("--markdown")) {
  log(
    `\n| corpus | files | MB | attune pack checksum (median) | baseline (median) | baseline / attune | library in-process | digest |`,
  );
  log(`|---|---:|---:|---:|---:|---:|---:|---|`);
  for (const r of results) {
    log(
      `| ${r.corpus} | ${r.files} | ${(r.bytes / 1e6).toFixed(1)} | ${r.oursMs.toFixed(0)} ms | ${r.baselineMs.toFixed(0)} ms | ` +
        `${r.ratio.toFixed(2)}x | ${r.inProcessMs.toFixed(0)} ms (${r.inProcessGBps.toFixed(2)} GB/s) | ${r.correct ? "ok" : "WRONG"} |`,
    );
  }
}
if (asJson)
  process.stdout.write(
    `${JSON.stringify({ machine: m, subject: sub.kind, runs, nodeStartMs: nodeStart, results }, null, 2)}\n`,
  );
process.exit(wrong ? 1 : 0);
