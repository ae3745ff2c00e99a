// Deterministic benchmark corpora (DESIGN.md §9), generated on the fly and never committed.
//   small: 300 files, ~3 MB        many: 20,000 files, ~100 MB, 1-4 levels deep        big: one 512 MiB file
// Content is pseudo-random (SHA-256 in counter mode over a fixed seed), so every machine builds the
// same bytes and the same checksums. A corpus is rebuilt only when its marker file is missing or stale.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const FORMAT = "attune-bench-corpus-v1";
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export const CORPORA = {
  small: { files: 300, meanSize: 10_000, maxDepth: 2 },
  many: { files: 20_000, meanSize: 5_000, maxDepth: 4 },
  big: { files: 1, size: 512 * 1024 * 1024 },
};

/** Where corpora live: $ATTUNE_BENCH_DIR, else a gitignored `.bench/` at the repo root. */
export function benchDir() {
  return process.env.ATTUNE_BENCH_DIR ?? path.join(repoRoot, ".bench");
}

// 4 MiB pool of deterministic bytes; file contents are slices of it.
function makePool(bytes = 4 * 1024 * 1024) {
  const pool = Buffer.alloc(bytes);
  for (let off = 0, i = 0; off < bytes; off += 32, i++) {
    crypto.createHash("sha256").update(`${FORMAT}:${i}`).digest().copy(pool, off);
  }
  return pool;
}

// mulberry32: tiny seeded PRNG for sizes, offsets and tree shape
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function writeTree(dir, spec, pool) {
  const rand = prng(spec.files * 7919 + spec.maxDepth);
  let total = 0;
  for (let i = 0; i < spec.files; i++) {
    const depth = 1 + Math.floor(rand() * spec.maxDepth);
    const parts = [];
    for (let d = 1; d < depth; d++) parts.push(`d${d}-${Math.floor(rand() * 8)}`);
    parts.push(`file-${i}.${["txt", "yaml", "py", "json"][i % 4]}`);
    // sizes spread 0..2x the mean, so the mean is kept
    const size = Math.floor(rand() * 2 * spec.meanSize);
    const offset = Math.floor(rand() * (pool.length - size));
    const file = path.join(dir, ...parts);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, pool.subarray(offset, offset + size));
    total += size;
  }
  return total;
}

function writeBig(dir, spec, pool) {
  const fd = fs.openSync(path.join(dir, "big.bin"), "w");
  try {
    for (let off = 0, block = 0; off < spec.size; off += pool.length, block++) {
      // stamp the block number so no two blocks are equal
      const chunk = Buffer.from(pool.subarray(0, Math.min(pool.length, spec.size - off)));
      chunk.writeUInt32BE(block, 0);
      fs.writeSync(fd, chunk);
    }
  } finally {
    fs.closeSync(fd);
  }
  return spec.size;
}

/** Make sure corpus `name` exists and return `{ dir, files, bytes }`. */
export function ensureCorpus(name, log = (m) => process.stderr.write(`${m}\n`)) {
  const spec = CORPORA[name];
  if (!spec) throw new Error(`unknown corpus "${name}" (known: ${Object.keys(CORPORA).join(", ")})`);
  const dir = path.join(benchDir(), name);
  const marker = path.join(benchDir(), `${name}.json`);
  const want = JSON.stringify({ format: FORMAT, spec });
  try {
    const info = JSON.parse(fs.readFileSync(marker, "utf8"));
    if (JSON.stringify({ format: info.format, spec: info.spec }) === want) return { dir, ...info.stats };
  } catch {
    // missing or unreadable marker: (re)build below
  }
  log(`generating corpus "${name}" in ${dir} ...`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const pool = makePool();
  const bytes = name === "big" ? writeBig(dir, spec, pool) : writeTree(dir, spec, pool);
  const stats = { files: spec.files, bytes };
  fs.writeFileSync(marker, JSON.stringify({ format: FORMAT, spec, stats }));
  return { dir, ...stats };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(CORPORA);
  for (const n of names) {
    const c = ensureCorpus(n);
    process.stdout.write(`${n}: ${c.files} files, ${(c.bytes / 1e6).toFixed(1)} MB in ${c.dir}\n`);
  }
}
