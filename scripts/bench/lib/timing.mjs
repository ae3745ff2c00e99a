// Shared helpers for benchmark scripts: whole-process timing, medians, machine description.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const GNU_TIME = "/usr/bin/time";
const hasGnuTime = fs.existsSync(GNU_TIME);
const cpuFile = path.join(os.tmpdir(), `attune-bench-cpu-${process.pid}`);

/**
 * Run a command to completion and return { ms, cpuMs, stdout }; throws on a non-zero exit.
 * cpuMs (user + system time of the command and its children, from GNU time when installed)
 * is much less sensitive than wall time to other work competing for the cores.
 */
export function timeProcess(cmd, args, opts = {}) {
  const [c, a] = hasGnuTime ? [GNU_TIME, ["-f", "%U %S", "-o", cpuFile, cmd, ...args]] : [cmd, args];
  const start = process.hrtime.bigint();
  const r = spawnSync(c, a, { encoding: "utf8", maxBuffer: 64 << 20, ...opts });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  let cpuMs = NaN;
  if (hasGnuTime) {
    const [user, sys] = fs.readFileSync(cpuFile, "utf8").trim().split(/\s+/).slice(-2).map(Number);
    cpuMs = (user + sys) * 1000;
  }
  return { ms, cpuMs, stdout: r.stdout };
}

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function machine() {
  const cpu =
    /model name\s*:\s*(.*)/.exec(fs.readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? os.cpus()[0]?.model;
  return {
    cpu,
    cores: os.availableParallelism?.() ?? os.cpus().length,
    node: process.version,
    load: os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(" "),
  };
}

export const runsFromEnv = () => Math.max(5, Number(process.env.ATTUNE_BENCH_RUNS ?? 5) || 5);
