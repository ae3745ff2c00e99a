#!/usr/bin/env node
// Start-up cost of the built CLI: median wall time of whole processes, against bare `node -e 0`
// measured in the same run (target: `attune --help` <= 150 ms above bare node).
// Usage: node apps/cli/scripts/bench-startup.mjs [--runs N] [--json]
// Also importable: `import { benchStartup } from "./apps/cli/scripts/bench-startup.mjs"`.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..", "..");
const bin = path.join(root, "apps", "cli", "dist", "bin.js");

// Each process reports its own CPU time at exit: on a busy machine wall time swings with the
// load, CPU time much less. The preload is the same for every case, so it cancels out.
const CPU_PRELOAD =
  'data:text/javascript,process.on("exit",()=>{const u=process.cpuUsage();process.stderr.write("\\nATTUNE_CPU_US="+(u.user+u.system)+"\\n")})';

const CASES = [
  ["node -e 0", ["-e", "0"]],
  ["attune --version", [bin, "--version"]],
  ["attune --help", [bin, "--help"]],
  [
    "attune pack checksum <example>",
    [bin, "pack", "checksum", path.join(root, "examples", "packs", "hello-world")],
  ],
];

function timeOnce(args) {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ["--import", CPU_PRELOAD, ...args], {
    stdio: ["ignore", "ignore", "pipe"],
    cwd: root,
    encoding: "utf8",
  });
  const wall = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  const cpu = Number(/ATTUNE_CPU_US=(\d+)/.exec(r.stderr)?.[1] ?? NaN) / 1000;
  return { wall, cpu };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export function benchStartup({ runs = 15 } = {}) {
  // Interleave the cases run by run, so a load change on the machine hits all of them alike.
  const samples = CASES.map(() => []);
  for (const [, args] of CASES) timeOnce(args); // warm the file cache
  for (let i = 0; i < runs; i++) CASES.forEach(([, args], c) => samples[c].push(timeOnce(args)));
  const wall = samples.map((s) => median(s.map((x) => x.wall)));
  const cpu = samples.map((s) => median(s.map((x) => x.cpu)));
  return {
    runs,
    node: process.version,
    results: CASES.map(([name], c) => ({
      name,
      median_ms: +wall[c].toFixed(1),
      above_node_ms: +(wall[c] - wall[0]).toFixed(1),
      cpu_median_ms: +cpu[c].toFixed(1),
      cpu_above_node_ms: +(cpu[c] - cpu[0]).toFixed(1),
    })),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const i = process.argv.indexOf("--runs");
  const report = benchStartup({ runs: i > 0 ? Number(process.argv[i + 1]) : 15 });
  if (process.argv.includes("--json")) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    console.log(`CLI start-up, median of ${report.runs} runs (${report.node}); wall and CPU (user+sys)`);
    for (const r of report.results)
      console.log(
        `  ${r.name.padEnd(32)} wall ${String(r.median_ms).padStart(7)} ms (+${r.above_node_ms})` +
          `   cpu ${String(r.cpu_median_ms).padStart(7)} ms (+${r.cpu_above_node_ms})`,
      );
    const help = report.results.find((r) => r.name === "attune --help");
    console.log(`target: --help <= 150 ms above bare node: ${help.above_node_ms <= 150 ? "met" : "NOT met"}`);
  }
}
