#!/usr/bin/env node
// Install benchmark (issue 7): whole-process `attune pack install` of the `many` pack from four
// sources against the plain tool doing the same copy, medians of >= 5 interleaved runs:
//   archive   local .tar.gz            vs  tar xzf into a fresh dir              (target <= 1.2x)
//   dir       local directory          vs  cp -r                                 (target <= 1.2x)
//   git       local git http-backend   vs  git clone --depth 1 of the same repo  (reported)
//   registry  registry index (archive) vs  curl | tar xz of the same archive    (reported)
// The install also validates pack.yaml, hashes every file (the recorded checksum), moves the tree
// into versioned storage and records it in SQLite; the baselines only copy bytes.
//
// Every timed run, ours and the baseline's (warm-ups included), is preceded by an untimed `sync`, so
// neither pays for writing back what the previous run left dirty in the page cache.
//
// `sync` does not remove the other cost a previous run leaves behind: on ext4 WITHOUT a journal (this
// VM's root file system: /proc/fs/jbd2 is empty), the kernel will not reuse an inode freed less than
// 60 s ago (360 s while its inode-table block is still dirty; `sync` brings it back to 60 s), and
// ext4_new_inode checks every such free inode it passes (recently_deleted() in perf). Each run
// deletes 20,000 files (the uninstall, the baseline's rm) and the next one creates 20,000 next to
// them, so by default both sides pay several seconds of system time for it: `tar xzf` of the `many`
// pack took 2-7 s here instead of 0.8 s. With --defer-cleanup nothing is deleted until the end: each
// of our runs (warm-up included) installs into a fresh copy (untimed) of an empty, migrated store
// instead of uninstalling, and each baseline run extracts into its own new directory; figures are
// then those of a file system with no recent deletions (needs ~2 GB free per case for `many` at
// --runs=5; the registry case then also starts each run with an empty index cache).
//   node scripts/bench/install.mjs [--corpus=many] [--cases=archive,dir,git,registry] [--runs=N]
//                                  [--defer-cleanup] [--json]
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { ensurePackCorpus } from "./lib/packs.mjs";
import {
  CLI,
  LOOPBACK_ENV,
  baseEnv,
  cliOk,
  importDist,
  requireBuilt,
  runAsync,
  serveDir,
  tempDir,
} from "./lib/product.mjs";
import { machine, median, runsFromEnv } from "./lib/timing.mjs";
import { fileChecksum, printTable } from "./lib/report.mjs";

const opt = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const asJson = process.argv.includes("--json");
const runs = Math.max(5, Number(opt("runs") ?? runsFromEnv()));
const corpusName = opt("corpus") ?? "many";
const cases = (opt("cases") ?? "archive,dir,git,registry").split(",");
const deferCleanup = process.argv.includes("--defer-cleanup");
const log = (m) => (asJson ? process.stderr : process.stdout).write(`${m}\n`);
// untimed, before every timed run: write back what the previous run left dirty
const syncDisk = () => spawnSync("sync", { stdio: "ignore" });
const TARGETS = { archive: 1.2, dir: 1.2 };

requireBuilt();
const pack = ensurePackCorpus(corpusName, { log });
const work = tempDir("attune-bench-install-");
const { serveGit } = await importDist("packages/test-utils");
const gitServer = await serveGit(pack.gitRoot);
const files = await serveDir(path.dirname(pack.archive), {});
const archiveUrl = `${files.url}/${path.basename(pack.archive)}`;
const indexDir = path.join(work.dir, "registry");
fs.mkdirSync(indexDir);
const index = await serveDir(indexDir);
fs.writeFileSync(
  path.join(indexDir, "index.json"),
  JSON.stringify({
    registry_name: "bench",
    registry_url: index.url,
    version: "1.0",
    last_updated: new Date().toISOString(),
    packs: [
      {
        ref: pack.ref,
        label: pack.ref,
        description: "benchmark pack",
        version: pack.version,
        author: "bench",
        license: "MIT",
        keywords: [],
        runtime_deps: [],
        install_sources: [{ type: "archive", url: archiveUrl, checksum: fileChecksum(pack.archive) }],
        contents: { actions: [], sensors: [], triggers: [], rules: [], workflows: [] },
      },
    ],
  }),
);

const home = path.join(work.dir, "home");
const env = { ATTUNE_HOME: home, ...LOOPBACK_ENV, ATTUNE_REGISTRIES: `bench=${index.url}/index.json` };
const gitUrl = `${gitServer.url}/${path.basename(pack.gitRepo)}`;
const sources = {
  archive: {
    args: [pack.archive],
    baseline: (d) => ["tar", ["xzf", pack.archive, "-C", d]],
    label: "tar xzf",
  },
  dir: { args: [pack.dir], baseline: (d) => ["cp", ["-r", `${pack.dir}/.`, d]], label: "cp -r" },
  git: {
    args: [gitUrl, "--ref", pack.gitTag],
    baseline: (d) => ["git", ["clone", "-q", "--depth", "1", "--branch", pack.gitTag, gitUrl, d]],
    label: "git clone --depth 1",
  },
  registry: {
    args: [pack.ref],
    baseline: (d) => ["bash", ["-c", `curl -sSf ${archiveUrl} | tar xz -C ${d}`]],
    label: "curl | tar xz",
  },
};

// async: the git, file and index servers live in this process and must keep serving
async function timed(cmd, args, opts = {}) {
  const r = await runAsync(cmd, args, opts);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return r;
}

let runNo = 0;

async function oursOnce(name) {
  // --defer-cleanup: a fresh copy of the (migrated, empty) store for every run, warm-up included
  const runEnv = { ...env };
  if (deferCleanup) {
    runEnv.ATTUNE_HOME = path.join(work.dir, `home-${++runNo}`);
    fs.cpSync(home, runEnv.ATTUNE_HOME, { recursive: true }); // not timed
  }
  syncDisk();
  const r = await timed(
    process.execPath,
    [CLI, "pack", "install", ...sources[name].args, "-o", "json", "-q"],
    {
      env: baseEnv(runEnv),
    },
  );
  const out = JSON.parse(r.stdout);
  if (!deferCleanup) cliOk(["pack", "uninstall", pack.ref, "--yes", "-o", "json"], { env }); // not timed
  return { ms: r.ms, checksum: out.installation.checksum };
}

async function baselineOnce(name) {
  const dest = path.join(work.dir, deferCleanup ? `baseline-${++runNo}` : "baseline");
  fs.mkdirSync(dest);
  const [cmd, args] = sources[name].baseline(dest);
  syncDisk();
  const r = await timed(cmd, args);
  if (!deferCleanup) fs.rmSync(dest, { recursive: true, force: true }); // not timed
  return r.ms;
}

const m = machine();
log(`machine: ${m.cpu}, ${m.cores} cores, Node ${m.node}, load average ${m.load}`);
log(
  `corpus: ${corpusName} pack (${pack.files} files, ${(pack.bytes / 1e6).toFixed(1)} MB); ${runs} runs each, interleaved, after one warm-up; sync before each; ${deferCleanup ? "nothing deleted until the end (--defer-cleanup)" : "uninstall / rm after each (untimed)"}`,
);
const results = [];
if (deferCleanup) cliOk(["pack", "list", "-o", "json"], { env }); // creates and migrates the store to copy
try {
  for (const name of cases) {
    if (!sources[name]) throw new Error(`unknown case ${name}`);
    const first = await oursOnce(name); // warm-up (also migrates the store on first use)
    await baselineOnce(name);
    const o = [];
    const b = [];
    for (let i = 0; i < runs; i++) {
      o.push((await oursOnce(name)).ms);
      b.push(await baselineOnce(name));
    }
    const r = {
      case: name,
      baseline: sources[name].label,
      oursMs: median(o),
      baselineMs: median(b),
      checksum: first.checksum,
    };
    r.ratio = r.oursMs / r.baselineMs;
    r.target = TARGETS[name] ?? null;
    r.met = r.target === null ? null : r.ratio <= r.target;
    results.push(r);
    // a line per case as it completes, so a long run that is cut short still reports
    log(
      `${name}: attune ${r.oursMs.toFixed(0)} ms, ${r.baseline} ${r.baselineMs.toFixed(0)} ms, ${r.ratio.toFixed(2)}x (load ${machine().load})`,
    );
  }
} finally {
  await gitServer.close();
  await files.close();
  await index.close();
  work.cleanup();
}

printTable(
  log,
  ["source", "attune install (ms)", "baseline", "baseline (ms)", "ours/baseline", "target", "result"],
  results.map((r) => [
    r.case,
    r.oursMs.toFixed(0),
    r.baseline,
    r.baselineMs.toFixed(0),
    `${r.ratio.toFixed(2)}x`,
    r.target ? `<= ${r.target}x` : "-",
    r.met === null ? "reported" : r.met ? "MET" : "MISSED",
  ]),
);
const sums = new Set(results.map((r) => r.checksum));
log(
  sums.size === 1
    ? `every source recorded the same checksum ${[...sums][0]}`
    : `CHECKSUMS DIFFER: ${[...sums].join(", ")}`,
);
if (asJson)
  process.stdout.write(`${JSON.stringify({ machine: m, corpus: corpusName, runs, results }, null, 2)}\n`);
process.exit(sums.size === 1 ? 0 : 1);
