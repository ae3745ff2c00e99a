#!/usr/bin/env node
// Verify benchmark (issue 7): `attune pack verify <ref>` of an installed `many` pack against
// `attune pack checksum <its stored directory>` (target <= 1.3x). Both are whole CLI processes;
// verify also opens the store, takes the ref lock, computes the per-file manifest (to name
// changed/added/removed files) and appends a history event. Medians of >= 5 interleaved runs.
//   node scripts/bench/verify.mjs [--corpus=many] [--runs=N] [--json]
import fs from "node:fs";
import path from "node:path";
import { ensurePackCorpus } from "./lib/packs.mjs";
import { cli, cliOk, requireBuilt, tempDir } from "./lib/product.mjs";
import { printTable } from "./lib/report.mjs";
import { machine, median, runsFromEnv } from "./lib/timing.mjs";

const opt = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const asJson = process.argv.includes("--json");
const runs = Math.max(5, Number(opt("runs") ?? runsFromEnv()));
const corpusName = opt("corpus") ?? "many";
const log = (m) => (asJson ? process.stderr : process.stdout).write(`${m}\n`);
const TARGET = 1.3;

requireBuilt();
const pack = ensurePackCorpus(corpusName, { git: false, log });
const work = tempDir("attune-bench-verify-");
const env = { ATTUNE_HOME: work.dir };
let result;
try {
  const installed = cliOk(["pack", "install", pack.dir, "-o", "json", "-q"], { env }).json;
  const expected = installed.installation.checksum;
  // the real directory behind the stable path (the storage swaps a link; hashing needs the tree)
  const stored = fs.realpathSync(path.join(work.dir, "packs", `${pack.ref}-${pack.version}`));
  const verify = () => {
    const r = cli(["pack", "verify", pack.ref, "-o", "json", "-q"], { env });
    if (r.status !== 0 || !r.json?.[0]?.ok) throw new Error(`verify failed (${r.status}): ${r.stderr}`);
    return r.ms;
  };
  const checksum = () => {
    const r = cliOk(["pack", "checksum", stored, "-o", "json"], { env });
    if (r.json.checksum !== expected) throw new Error(`checksum ${r.json.checksum} != recorded ${expected}`);
    return r.ms;
  };
  verify();
  checksum();
  const v = [];
  const c = [];
  for (let i = 0; i < runs; i++) {
    v.push(verify());
    c.push(checksum());
  }
  // a tampered copy must be caught (exit 3): the figure above is for a check that works
  fs.appendFileSync(path.join(stored, "pack.yaml"), "# tampered\n");
  const tampered = cli(["pack", "verify", pack.ref, "-o", "json", "-q"], { env });
  result = { verifyMs: median(v), checksumMs: median(c), tamperDetected: tampered.status === 3 };
  result.ratio = result.verifyMs / result.checksumMs;
} finally {
  work.cleanup();
}

const m = machine();
log(`machine: ${m.cpu}, ${m.cores} cores, Node ${m.node}, load average ${m.load}`);
log(
  `corpus: ${corpusName} pack (${pack.files} files, ${(pack.bytes / 1e6).toFixed(1)} MB); ${runs} runs each, interleaved`,
);
printTable(
  log,
  [
    "attune pack verify (ms)",
    "attune pack checksum (ms)",
    "verify/checksum",
    "target",
    "result",
    "tamper detected",
  ],
  [
    [
      result.verifyMs.toFixed(0),
      result.checksumMs.toFixed(0),
      `${result.ratio.toFixed(2)}x`,
      `<= ${TARGET}x`,
      result.ratio <= TARGET ? "MET" : "MISSED",
      result.tamperDetected ? "yes (exit 3)" : "NO",
    ],
  ],
);
if (asJson)
  process.stdout.write(`${JSON.stringify({ machine: m, corpus: corpusName, runs, ...result }, null, 2)}\n`);
process.exit(result.tamperDetected ? 0 : 1);
