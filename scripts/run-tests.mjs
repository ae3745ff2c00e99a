#!/usr/bin/env node
// The project's test command: format check, then typecheck + build + test of every package through turbo,
// then one closing line `N passed, N failed` summed over all packages (read from each Jest JSON report).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(root);
process.env.TURBO_TELEMETRY_DISABLED = "1";
process.env.DO_NOT_TRACK = "1";

const workspaces = ["packages", "apps"].flatMap((d) =>
  fs
    .readdirSync(d)
    .map((n) => path.join(d, n))
    .filter((p) => fs.existsSync(path.join(p, "package.json"))),
);
for (const w of workspaces) fs.rmSync(path.join(w, ".jest-results.json"), { force: true });

const run = (cmd, args) => spawnSync(cmd, args, { stdio: "inherit", env: process.env }).status ?? 1;
let failedSteps = [];
if (run("pnpm", ["exec", "prettier", "--check", "--log-level", "warn", "."]) !== 0)
  failedSteps.push("format check (run `pnpm format`)");
const extra = process.argv.slice(2);
const turbo = (...args) =>
  run("pnpm", ["exec", "turbo", "run", ...args, "--continue", "--output-logs=errors-only", ...extra]);
if (turbo("typecheck", "build") !== 0) failedSteps.push("turbo typecheck/build");
// Test suites spawn real servers and CLI processes; two packages at a time keeps a 2-core machine
// from starving their timeouts (TEST_CONCURRENCY overrides).
if (turbo("test", `--concurrency=${process.env.TEST_CONCURRENCY ?? "2"}`) !== 0)
  failedSteps.push("turbo test");

let passed = 0,
  failed = 0,
  skipped = 0;
for (const w of workspaces) {
  const pkg = JSON.parse(fs.readFileSync(path.join(w, "package.json"), "utf8"));
  if (!pkg.scripts?.test) continue;
  const f = path.join(w, ".jest-results.json");
  if (!fs.existsSync(f)) {
    console.error(`no test report from ${pkg.name} (its tests did not run to completion)`);
    failed += 1;
    continue;
  }
  const r = JSON.parse(fs.readFileSync(f, "utf8"));
  passed += r.numPassedTests;
  failed += r.numFailedTests + (r.numRuntimeErrorTestSuites ?? 0);
  skipped += r.numPendingTests + r.numTodoTests;
  console.error(
    `${pkg.name}: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`,
  );
}
if (failedSteps.length) console.error(`failed steps: ${failedSteps.join("; ")}`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || failedSteps.length ? 1 : 0);
