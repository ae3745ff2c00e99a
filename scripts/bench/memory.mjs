#!/usr/bin/env node
// Memory benchmark (issue 7): peak RSS of whole-process `attune pack install` of the `big` corpus —
// its one 512 MiB file, with the per-file cap raised by ATTUNE_MAX_FILE_BYTES (the default cap of
// 256 MiB refuses it with ETOO_LARGE; the run shows that too) — and of the same 512 MiB as
// 4 x 128 MiB, from a local directory and from a local .tar, next to the `small` pack. Installing must stream: the peak
// may not grow with the file size. Pass when every large install stays within 128 MiB of `small`.
// The peak is the CLI process's own maxRSS, read at exit by a preloaded hook (no external tool).
//   node scripts/bench/memory.mjs [--runs=N] [--json]
import { ensureBigSlicePack, ensurePackCorpus } from "./lib/packs.mjs";
import { cli, cliOk, requireBuilt, tempDir } from "./lib/product.mjs";
import { printTable } from "./lib/report.mjs";
import { machine, median, runsFromEnv } from "./lib/timing.mjs";

const opt = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const asJson = process.argv.includes("--json");
const runs = Math.max(5, Number(opt("runs") ?? runsFromEnv()));
const log = (m) => (asJson ? process.stderr : process.stdout).write(`${m}\n`);
const MiB = 1024 * 1024;
const ALLOWED_GROWTH = 128 * MiB;
// prints the process's peak RSS (KiB on Linux) on stderr as it exits
const HOOK = `data:text/javascript,process.on("exit",()=>process.stderr.write("\\nmaxrss="+process.resourceUsage().maxRSS+"\\n"))`;

requireBuilt();
const small = ensurePackCorpus("small", { git: false, log });
const big = ensurePackCorpus("big", { git: false, log });
const four = ensureBigSlicePack("big4x128", 4, 128 * MiB, { log });
// the big file needs the per-file cap raised: what an operator vendoring such a file would set
const RAISED = { ATTUNE_MAX_FILE_BYTES: String(600 * 1000 * 1000) };
const cases = [
  { name: "small, dir", pack: small, source: small.dir },
  { name: "1 x 512 MiB, dir", pack: big, source: big.dir, env: RAISED },
  { name: "1 x 512 MiB, .tar", pack: big, source: big.archive, env: RAISED },
  { name: "4 x 128 MiB, dir", pack: four, source: four.dir },
  { name: "4 x 128 MiB, .tar", pack: four, source: four.archive },
];

function peakOnce(c) {
  const work = tempDir("attune-bench-mem-");
  try {
    const env = { ATTUNE_HOME: work.dir, ...c.env };
    const r = cli(["pack", "install", c.source, "-o", "json", "-q"], { env, nodeArgs: ["--import", HOOK] });
    if (r.status !== 0) throw new Error(`install ${c.source} failed (${r.status}): ${r.stderr}`);
    const kib = Number(/maxrss=(\d+)/.exec(r.stderr)?.[1]);
    if (!kib) throw new Error(`no maxrss line in: ${r.stderr}`);
    return { bytes: kib * 1024, ms: r.ms, checksum: r.json.installation.checksum };
  } finally {
    work.cleanup();
  }
}

const bare = cliOk(["--version"], { nodeArgs: ["--import", HOOK] });
const bareRss = Number(/maxrss=(\d+)/.exec(bare.stderr)?.[1]) * 1024;
const results = cases.map((c) => {
  const samples = Array.from({ length: runs }, () => peakOnce(c));
  return {
    case: c.name,
    fileBytes: c.pack.bytes,
    peakRss: median(samples.map((s) => s.bytes)),
    ms: median(samples.map((s) => s.ms)),
  };
});
// the 512 MiB file under the default caps: refused by the per-file cap before anything is copied
const refusal = (() => {
  const work = tempDir("attune-bench-mem-");
  try {
    const r = cli(["pack", "install", big.dir, "-o", "json", "-q"], {
      env: { ATTUNE_HOME: work.dir },
      nodeArgs: ["--import", HOOK],
    });
    return {
      status: r.status,
      code: /attune: (E[A-Z_]+)/.exec(r.stderr)?.[1],
      peakRss: Number(/maxrss=(\d+)/.exec(r.stderr)?.[1]) * 1024,
    };
  } finally {
    work.cleanup();
  }
})();
const base = results[0].peakRss;
const m = machine();
log(`machine: ${m.cpu}, ${m.cores} cores, Node ${m.node}, load average ${m.load}`);
log(
  `median peak RSS of ${runs} runs each; \`attune --version\` alone peaks at ${(bareRss / MiB).toFixed(0)} MiB`,
);
printTable(
  log,
  ["install", "content", "peak RSS (MiB)", "vs small", "time (ms)", "result"],
  results.map((r) => [
    r.case,
    `${(r.fileBytes / MiB).toFixed(0)} MiB`,
    (r.peakRss / MiB).toFixed(0),
    `${((r.peakRss - base) / MiB).toFixed(0)} MiB`,
    r.ms.toFixed(0),
    r.peakRss - base <= ALLOWED_GROWTH ? "streams (MET)" : "GROWS WITH SIZE (MISSED)",
  ]),
);
log(
  `big corpus under the default caps: exit ${refusal.status} ${refusal.code ?? ""} (per-file cap 256 MiB), peak RSS ${(refusal.peakRss / MiB).toFixed(0)} MiB`,
);
const ok = results.every((r) => r.peakRss - base <= ALLOWED_GROWTH);
if (asJson)
  process.stdout.write(
    `${JSON.stringify({ machine: m, runs, bareRss, results, bigRefusal: refusal }, null, 2)}\n`,
  );
process.exit(ok ? 0 : 1);
