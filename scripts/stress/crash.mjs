#!/usr/bin/env node
// Crash-safety stress (issue 7): >= 50 installs / upgrades / forced reinstalls / uninstalls through
// the built CLI, each SIGKILLed at a random instant or at a named crash point (the installer's
// test-only ATTUNE_TEST_CRASH_AT: after-fetch and before-journal = before anything is stored,
// after-journal, after-store = between the storage move and the DB commit, after-commit,
// uninstall-after-commit), then recovered by opening the installer (which
// reconciles) and checked:
//   I1 no partial pack at any final path: every <ref>-<version> entry hashes to that version's checksum
//   I2 every installed row has its files with the recorded checksum (verify ok)
//   I3 no files without a row after reconciliation (no untracked entry, no orphan store dir, no
//      staging/journal/trash leftovers)
//   I4 history records the interrupted attempt (an `interrupted` event per adopted/rolled-back
//      operation; the named crash points have a known outcome)
// Exit 1 on any violation.  node scripts/stress/crash.mjs [--iterations=60] [--max-seconds=1200] [--seed=N]
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { CLI, baseEnv, cliOk, importDist, makePack, requireBuilt, tempDir } from "../bench/lib/product.mjs";
import { printTable } from "../bench/lib/report.mjs";
import { checkStore } from "./lib/invariants.mjs";
import { prng } from "./lib/random.mjs";

const opt = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const iterations = Number(opt("iterations") ?? 60);
const maxMs = Number(opt("max-seconds") ?? 1200) * 1000;
const seed = Number(opt("seed") ?? Date.now() % 100000);
const rand = prng(seed);
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const REF = "crash_pack";
const VERSIONS = ["1.0.0", "1.1.0", "2.0.0"];

requireBuilt();
const { openInstaller } = await importDist("packages/installer");
const work = tempDir("attune-stress-crash-");
const home = path.join(work.dir, "home");
const env = { ATTUNE_HOME: home };
// 1,200 files per version so a random kill can land inside the copy, the hash or the move, and the
// copy and the hash run on two threads (over @attune/pack-storage's HELPER_MIN_FILES = 1,000)
const sources = Object.fromEntries(
  VERSIONS.map((v) => {
    const files = Object.fromEntries(
      Array.from({ length: 1200 }, (_, i) => [`data/d${i % 7}/f${i}.txt`, `${v}:${i}:`.repeat(50)]),
    );
    return [v, makePack(path.join(work.dir, "src"), REF, v, files)];
  }),
);
const expected = Object.fromEntries(
  VERSIONS.map((v) => [v, cliOk(["pack", "checksum", sources[v], "-o", "json"]).json.checksum]),
);

/** Run one CLI operation; kill it after `killAfterMs` (if set). Resolves with how it ended. */
function runOp(args, { crashAt, killAfterMs } = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args, "-o", "json", "-q"], {
      env: baseEnv({ ...env, ...(crashAt ? { ATTUNE_TEST_CRASH_AT: crashAt } : {}) }),
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (c) => (stderr += String(c)));
    const timer = killAfterMs === undefined ? null : setTimeout(() => child.kill("SIGKILL"), killAfterMs);
    const started = Date.now();
    child.on("exit", (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stderr, ms: Date.now() - started });
    });
  });
}

/** The next operation, chosen from the recorded state. */
function nextOp(state) {
  if (!state) {
    const v = pick(VERSIONS);
    return { kind: "install", version: v, args: ["pack", "install", sources[v]] };
  }
  const roll = rand();
  if (roll < 0.25) return { kind: "uninstall", args: ["pack", "uninstall", REF, "--yes"] };
  if (roll < 0.45)
    return { kind: "reinstall", version: state, args: ["pack", "install", sources[state], "--force"] };
  const v = pick(VERSIONS.filter((x) => x !== state));
  return { kind: "upgrade", version: v, args: ["pack", "install", sources[v]] };
}

async function recoverAndCheck(before, op, mode, outcome) {
  const installer = await openInstaller({ home, lockStaleMs: 2000, reconcile: true });
  try {
    return await checkStore(installer, { ref: REF, expected, before, op, mode, outcome });
  } finally {
    await installer.close();
  }
}

const calibration = await runOp(["pack", "install", sources["1.0.0"]]);
if (calibration.code !== 0) throw new Error(`calibration install failed: ${calibration.stderr}`);
const typicalMs = calibration.ms;
const first = await recoverAndCheck(
  { version: null, events: 0, interrupted: 0 },
  { kind: "install", version: "1.0.0" },
  "none",
  calibration,
);
if (first.problems.length)
  throw new Error(`store inconsistent after a plain install: ${first.problems.join("; ")}`);
let before = first.after;
const started = Date.now();
const rows = [];
const tally = {};
let violations = 0;
for (let i = 0; i < iterations && Date.now() - started < maxMs; i++) {
  const op = nextOp(before.version);
  const points =
    op.kind === "uninstall"
      ? ["uninstall-after-commit"]
      : ["after-fetch", "before-journal", "after-journal", "after-store", "after-commit"];
  const r = rand();
  const mode = r < 0.45 ? pick(points) : r < 0.9 ? "random-kill" : "none";
  const killAfterMs = mode === "random-kill" ? Math.floor(rand() * typicalMs * 1.1) : undefined;
  const outcome = await runOp(op.args, {
    crashAt: mode === "random-kill" || mode === "none" ? undefined : mode,
    killAfterMs,
  });
  const check = await recoverAndCheck(before, op, mode, outcome);
  const key = `${op.kind} / ${mode === "random-kill" ? "random SIGKILL" : mode}`;
  tally[key] ??= { runs: 0, killed: 0, resolutions: new Set(), violations: 0 };
  tally[key].runs++;
  if (outcome.signal === "SIGKILL") tally[key].killed++;
  for (const res of check.resolutions) tally[key].resolutions.add(res);
  if (check.problems.length) {
    violations += check.problems.length;
    tally[key].violations += check.problems.length;
    for (const p of check.problems)
      process.stdout.write(`VIOLATION #${i} ${key} (killAfter ${killAfterMs ?? "-"} ms): ${p}\n`);
  }
  before = check.after;
  rows.push({ i, key, killAfterMs, ...check });
}
work.cleanup();

process.stdout.write(
  `\ncrash stress: seed ${seed}, ${rows.length} operations, typical install ${typicalMs} ms\n`,
);
printTable(
  (m) => process.stdout.write(`${m}\n`),
  ["operation / kill", "runs", "killed", "reconcile resolutions", "violations"],
  Object.entries(tally)
    .sort()
    .map(([k, t]) => [k, t.runs, t.killed, [...t.resolutions].join(", ") || "-", t.violations]),
);
process.stdout.write(
  `${violations ? "FAIL" : "PASS"}: ${violations} invariant violation(s) in ${rows.length} operations\n`,
);
process.exit(violations || rows.length < Math.min(iterations, 50) ? 1 : 0);
