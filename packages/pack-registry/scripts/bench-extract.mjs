#!/usr/bin/env node
// Extraction benchmark: `node packages/pack-registry/scripts/bench-extract.mjs [--files N] [--runs N]`
// (needs `pnpm --filter @attune/pack-registry... build`). Builds a "many" corpus (DESIGN.md §9:
// 20,000 files, ~100 MB, 1-4 levels deep) as .tar.gz and .zip, then extracts each with
// extractArchive and with GNU tar / unzip, alternating, and prints medians and the ratio.
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { extractArchive } from "../dist/index.js";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const FILES = arg("--files", 20_000);
const RUNS = arg("--runs", 5);
const has = (cmd) => spawnSync(cmd, ["-v"], { stdio: "ignore" }).error === undefined;

const work = mkdtempSync(join(tmpdir(), "attune-bench-extract-"));
try {
  const src = join(work, "src");
  for (let i = 0; i < FILES; i++) {
    const dir = join(src, ...[`d${i % 40}`, `e${i % 7}`, `f${i % 3}`].slice(0, i % 3));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `file${i}.txt`), randomBytes(2500).toString("hex")); // 5 KB, compresses ~2x
  }
  const tgz = join(work, "many.tar.gz");
  execFileSync("tar", ["-czf", tgz, "-C", src, "."]);
  const archives = [["tar.gz", tgz, (dest) => execFileSync("tar", ["-xzf", tgz, "-C", dest]), "tar -xzf"]];
  if (has("zip") && has("unzip")) {
    const zip = join(work, "many.zip");
    execFileSync("zip", ["-qr", zip, "."], { cwd: src });
    archives.push(["zip", zip, (dest) => execFileSync("unzip", ["-q", zip, "-d", dest]), "unzip -q"]);
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const time = async (fn) => {
    const dest = join(work, "out");
    mkdirSync(dest);
    const t = process.hrtime.bigint();
    await fn(dest);
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    rmSync(dest, { recursive: true, force: true });
    return ms;
  };
  for (const [type, file, baseline, baselineName] of archives) {
    const ours = [];
    const theirs = [];
    for (let r = 0; r < RUNS; r++) {
      ours.push(await time((dest) => extractArchive(file, dest)));
      theirs.push(await time(async (dest) => baseline(dest)));
    }
    const m = median(ours);
    const b = median(theirs);
    console.log(
      `${type}: ${FILES} files, extractArchive median ${m.toFixed(0)} ms, ${baselineName} median ${b.toFixed(0)} ms, ratio ${(m / b).toFixed(2)}x (runs: ${ours.map((x) => x.toFixed(0)).join(" ")})`,
    );
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
