#!/usr/bin/env node
// Benchmark runner: `pnpm bench` runs every benchmark in this folder, `pnpm bench checksum` one
// of them. A benchmark is any `<name>.mjs` here except index.mjs and corpus.mjs (helpers go in lib/).
// Arguments starting with "-" are passed on to each benchmark.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const NOT_BENCHES = new Set(["index.mjs", "corpus.mjs"]);
const available = fs
  .readdirSync(here)
  .filter((f) => f.endsWith(".mjs") && !NOT_BENCHES.has(f))
  .map((f) => f.slice(0, -4))
  .sort();

const args = process.argv.slice(2);
const names = args.filter((a) => !a.startsWith("-"));
const passOn = args.filter((a) => a.startsWith("-"));
const unknown = names.filter((n) => !available.includes(n));
if (unknown.length) {
  process.stderr.write(`unknown benchmark(s): ${unknown.join(", ")}; available: ${available.join(", ")}\n`);
  process.exit(2);
}
let failed = 0;
for (const name of names.length ? names : available) {
  process.stdout.write(`\n== bench ${name} ==\n`);
  const r = spawnSync(process.execPath, [path.join(here, `${name}.mjs`), ...passOn], { stdio: "inherit" });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
