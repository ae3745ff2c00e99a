#!/usr/bin/env node
// Local directory copy benchmark (issue 7): `node packages/pack-registry/scripts/bench-copy.mjs
// [--runs N] [--corpus many] [--impl path/to/index.js]` (needs `pnpm --filter @attune/pack-registry...
// build`). Copies the deterministic corpus of scripts/bench/corpus.mjs (DESIGN.md §9) with
// `localDirectorySource(dir).fetch(staging, {})` and with `cp -r`, alternating, each in its own child
// process into a fresh directory. Reports medians of wall time AND of CPU time (user+sys, from
// /usr/bin/time), because the machine may be shared: wall time then measures the neighbours too.
// Every copy made by the product is compared with the source tree (file list, bytes, modes) once.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

// child mode: copy once and print in-process figures (the parent also times the whole process)
if (process.argv[2] === "--child") {
  const [, , , impl, from, staging] = process.argv;
  const { localDirectorySource } = await import(pathToFileURL(impl).href);
  const cpu = process.cpuUsage();
  const t = process.hrtime.bigint();
  const result = await localDirectorySource(from).fetch(staging, {});
  const used = process.cpuUsage(cpu);
  const wallMs = Number(process.hrtime.bigint() - t) / 1e6;
  process.stdout.write(JSON.stringify({ wallMs, cpuMs: (used.user + used.system) / 1000, result }));
  process.exit(0);
}

const opt = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const RUNS = Math.max(5, Number(opt("--runs", 5)));
const CORPUS = opt("--corpus", "many");
const IMPL = resolve(opt("--impl", join(here, "../dist/index.js")));
if (!existsSync("/usr/bin/time")) throw new Error("this benchmark needs /usr/bin/time (GNU time)");

const { ensureCorpus } = await import(pathToFileURL(join(here, "../../../scripts/bench/corpus.mjs")).href);
const corpus = ensureCorpus(CORPUS);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Run `cmd args` under GNU time; wall and user+sys CPU in ms. */
function timed(cmd, args) {
  const r = spawnSync("/usr/bin/time", ["-f", "@@ %e %U %S", cmd, ...args], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  const [, e, u, s] = /@@ ([\d.]+) ([\d.]+) ([\d.]+)/.exec(r.stderr);
  return { wall: Number(e) * 1000, cpu: (Number(u) + Number(s)) * 1000, out: r.stdout };
}

/** Relative path -> [size, 0755/0644] of every regular file (the top-level .git left out). */
function describe(dir, rel = "", out = new Map()) {
  for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
    if (rel === "" && e.name === ".git") continue;
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) describe(dir, p, out);
    else {
      const st = statSync(join(dir, p));
      out.set(p, [st.size, st.mode & 0o111 ? 0o755 : 0o644, st.mode & 0o777]);
    }
  }
  return out;
}

function verify(copy) {
  const want = describe(corpus.dir);
  const got = describe(copy);
  if (want.size !== got.size) throw new Error(`copy holds ${got.size} files, source ${want.size}`);
  for (const [p, [size, mode]] of want) {
    const g = got.get(p);
    if (!g || g[0] !== size || g[2] !== mode) throw new Error(`copy differs at ${p}`);
    if (size < 65536 && !readFileSync(join(corpus.dir, p)).equals(readFileSync(join(copy, p)))) {
      throw new Error(`copy differs in content at ${p}`);
    }
  }
}

const work = mkdtempSync(join(tmpdir(), "attune-bench-copy-"));
try {
  const dest = join(work, "out");
  const ours = [];
  const inProcess = [];
  const theirs = [];
  // one untimed warm-up of each (page cache), then alternate
  for (let r = -1; r < RUNS; r++) {
    mkdirSync(dest);
    const run = timed(process.execPath, [fileURLToPath(import.meta.url), "--child", IMPL, corpus.dir, dest]);
    if (r === -1) verify(dest);
    rmSync(dest, { recursive: true, force: true });
    const cp = timed("cp", ["-r", corpus.dir, dest]);
    rmSync(dest, { recursive: true, force: true });
    if (r === -1) continue;
    ours.push(run);
    inProcess.push(JSON.parse(run.out));
    theirs.push(cp);
  }
  const m = (xs, k) => median(xs.map((x) => x[k]));
  const f = (x) => x.toFixed(0);
  console.log(
    `local directory copy: ${corpus.files} files, ${(corpus.bytes / 1e6).toFixed(0)} MB, ${RUNS} runs, medians` +
      ` (load ${(await import("node:os"))
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(" ")}):\n` +
      `  localDirectorySource  wall ${f(m(ours, "wall"))} ms  cpu ${f(m(ours, "cpu"))} ms (whole process)` +
      `  | in process: wall ${f(m(inProcess, "wallMs"))} ms  cpu ${f(m(inProcess, "cpuMs"))} ms\n` +
      `  cp -r                 wall ${f(m(theirs, "wall"))} ms  cpu ${f(m(theirs, "cpu"))} ms\n` +
      `  ratio                 wall ${(m(ours, "wall") / m(theirs, "wall")).toFixed(2)}x  cpu ${(m(ours, "cpu") / m(theirs, "cpu")).toFixed(2)}x`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
