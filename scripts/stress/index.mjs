#!/usr/bin/env node
// Stress runner: `pnpm test:stress` runs crash, concurrency and hostile; `pnpm test:stress crash`
// one of them. Arguments starting with "-" are passed on to each script. Exit 1 when any script
// found a violated invariant. See docs/stress.md.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const available = ["crash", "concurrency", "hostile"];
const args = process.argv.slice(2);
const names = args.filter((a) => !a.startsWith("-"));
const passOn = args.filter((a) => a.startsWith("-"));
const unknown = names.filter((n) => !available.includes(n));
if (unknown.length) {
  process.stderr.write(
    `unknown stress script(s): ${unknown.join(", ")}; available: ${available.join(", ")}\n`,
  );
  process.exit(2);
}
const summary = [];
for (const name of names.length ? names : available) {
  process.stdout.write(`\n== stress ${name} ==\n`);
  const started = Date.now();
  const r = spawnSync(process.execPath, [path.join(here, `${name}.mjs`), ...passOn], { stdio: "inherit" });
  summary.push([
    name,
    r.status === 0 ? "PASS" : `FAIL (exit ${r.status ?? r.signal})`,
    `${((Date.now() - started) / 1000).toFixed(0)} s`,
  ]);
}
process.stdout.write("\n");
for (const [n, s, t] of summary) process.stdout.write(`${n.padEnd(12)} ${s.padEnd(16)} ${t}\n`);
process.exit(summary.every(([, s]) => s === "PASS") ? 0 : 1);
