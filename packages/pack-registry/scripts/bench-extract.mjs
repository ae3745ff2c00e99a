#!/usr/bin/env node
// Extraction benchmark (issue 7): `node packages/pack-registry/scripts/bench-extract.mjs [--runs N]
// [--corpus many] [--impl path/to/index.js] [--only tar.gz|zip]` (needs
// `pnpm --filter @attune/pack-registry... build`). Packs the deterministic corpus of
// scripts/bench/corpus.mjs (DESIGN.md §9) as .tar.gz and .zip, then extracts each with extractArchive
// and with GNU tar / unzip, alternating, each in its own child process into a fresh directory.
// Reports medians of wall time AND of CPU time (user+sys, from /usr/bin/time), because the machine
// may be shared: wall time then measures the neighbours as much as the code.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

// child mode: extract once and print in-process figures (the parent also times the whole process)
if (process.argv[2] === "--child") {
  const [, , , impl, file, dest] = process.argv;
  const { extractArchive } = await import(pathToFileURL(impl).href);
  const cpu = process.cpuUsage();
  const t = process.hrtime.bigint();
  const result = await extractArchive(file, dest);
  const used = process.cpuUsage(cpu);
  const wallMs = Number(process.hrtime.bigint() - t) / 1e6;
  process.stdout.write(JSON.stringify({ wallMs, cpuMs: (used.user + used.system) / 1000, result }));
  process.exit(0);
}

const opt = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const RUNS = Number(opt("--runs", 5));
const CORPUS = opt("--corpus", "many");
const IMPL = resolve(opt("--impl", join(here, "../dist/index.js")));
const ONLY = opt("--only", null);
const has = (cmd) => spawnSync(cmd, ["-v"], { stdio: "ignore" }).error === undefined;
if (!existsSync("/usr/bin/time")) throw new Error("this benchmark needs /usr/bin/time (GNU time)");

const { ensureCorpus } = await import(pathToFileURL(join(here, "../../../scripts/bench/corpus.mjs")).href);
const corpus = ensureCorpus(CORPUS);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Run `cmd args` under GNU time into a fresh `dest`; wall and user+sys CPU in ms. */
function timed(cmd, args, dest) {
  mkdirSync(dest);
  const r = spawnSync("/usr/bin/time", ["-f", "@@ %e %U %S", cmd, ...args], { encoding: "utf8" });
  rmSync(dest, { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  const [, e, u, s] = /@@ ([\d.]+) ([\d.]+) ([\d.]+)/.exec(r.stderr);
  return {
    wall: Number(e) * 1000,
    cpu: (Number(u) + Number(s)) * 1000,
    user: Number(u) * 1000,
    sys: Number(s) * 1000,
    out: r.stdout,
  };
}

const work = mkdtempSync(join(tmpdir(), "attune-bench-extract-"));
try {
  const tgz = join(work, "many.tar.gz");
  execFileSync("tar", ["-czf", tgz, "-C", corpus.dir, "."]);
  const archives = [["tar.gz", tgz, ["tar", ["-xzf", tgz, "-C"]]]];
  if (has("zip") && has("unzip")) {
    const zip = join(work, "many.zip");
    execFileSync("zip", ["-qr", zip, "."], { cwd: corpus.dir });
    archives.push(["zip", zip, ["unzip", ["-q", zip, "-d"]]]);
  }
  const dest = join(work, "out");
  for (const [type, file, [tool, toolArgs]] of archives) {
    if (ONLY && ONLY !== type) continue;
    const ours = [];
    const inProcess = [];
    const theirs = [];
    for (let r = 0; r < RUNS; r++) {
      const run = timed(
        process.execPath,
        [fileURLToPath(import.meta.url), "--child", IMPL, file, dest],
        dest,
      );
      ours.push(run);
      inProcess.push(JSON.parse(run.out));
      theirs.push(timed(tool, [...toolArgs, dest], dest));
    }
    const m = (xs, k) => median(xs.map((x) => x[k]));
    const f = (x) => x.toFixed(0);
    console.log(
      `${type}: ${corpus.files} files, ${(corpus.bytes / 1e6).toFixed(0)} MB, ${RUNS} runs, medians:\n` +
        `  extractArchive  wall ${f(m(ours, "wall"))} ms  cpu ${f(m(ours, "cpu"))} ms (user ${f(m(ours, "user"))} sys ${f(m(ours, "sys"))}, whole process)` +
        `  | in process: wall ${f(m(inProcess, "wallMs"))} ms  cpu ${f(m(inProcess, "cpuMs"))} ms\n` +
        `  ${tool.padEnd(14)}  wall ${f(m(theirs, "wall"))} ms  cpu ${f(m(theirs, "cpu"))} ms (user ${f(m(theirs, "user"))} sys ${f(m(theirs, "sys"))})\n` +
        `  ratio           wall ${(m(ours, "wall") / m(theirs, "wall")).toFixed(2)}x  cpu ${(m(ours, "cpu") / m(theirs, "cpu")).toFixed(2)}x` +
        `  (in-process cpu vs ${tool}: ${(m(inProcess, "cpuMs") / m(theirs, "cpu")).toFixed(2)}x)`,
    );
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
