// Pack-shaped benchmark inputs built from the DESIGN.md §9 corpora (scripts/bench/corpus.mjs):
// the corpus tree plus a pack.yaml, as a directory, a .tar.gz (or .tar for `big`) made by the
// system tar, and a bare git repository. Built once under the bench dir, rebuilt when stale.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { benchDir, ensureCorpus } from "../corpus.mjs";
import { makeGitRepo, packYaml } from "./product.mjs";

const FORMAT = "attune-bench-pack-v1";

/** `{ ref, version, dir, archive, gitRoot, gitRepo, files, bytes }` for corpus `name`. */
export function ensurePackCorpus(name, { git = true, log = (m) => process.stderr.write(`${m}\n`) } = {}) {
  const corpus = ensureCorpus(name, log);
  const ref = `bench_${name}`;
  const version = "1.0.0";
  const root = path.join(benchDir(), "packs");
  const dir = path.join(root, `${name}-pack`);
  const archive = path.join(root, name === "big" ? `${name}-pack.tar` : `${name}-pack.tar.gz`);
  const gitRoot = path.join(root, "git");
  const gitRepo = path.join(gitRoot, `${name}-pack.git`);
  const marker = path.join(root, `${name}-pack.json`);
  const want = JSON.stringify({ format: FORMAT, files: corpus.files, bytes: corpus.bytes });
  const info = {
    files: corpus.files,
    bytes: corpus.bytes,
    ref,
    version,
    dir,
    archive,
    gitRoot,
    gitRepo,
    gitTag: "v1.0.0",
  };
  const withGit = () => {
    if (git && !fs.existsSync(gitRepo)) makeGitRepo(dir, gitRoot, `${name}-pack`, info.gitTag);
    return info;
  };
  if (fs.existsSync(marker) && fs.readFileSync(marker, "utf8") === want) return withGit();

  log(`building pack inputs for "${name}" in ${root} ...`);
  fs.mkdirSync(gitRoot, { recursive: true });
  fs.rmSync(dir, { recursive: true, force: true });
  fs.cpSync(corpus.dir, dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "pack.yaml"), packYaml(ref, version));
  // `big` stays uncompressed: gzip would dominate both sides with the same compressor work
  execFileSync("tar", [name === "big" ? "-cf" : "-czf", archive, "-C", dir, "."]);
  fs.rmSync(gitRepo, { recursive: true, force: true });
  fs.writeFileSync(marker, want);
  return withGit();
}

/**
 * A pack cut from the `big` corpus's 512 MiB file: `parts` files of `partBytes` each (the default
 * per-file cap of safe extraction is 256 MiB, so the whole file cannot be installed as one).
 * Returns `{ ref, dir, archive (.tar), bytes }`.
 */
export function ensureBigSlicePack(
  name,
  parts,
  partBytes,
  { log = (m) => process.stderr.write(`${m}\n`) } = {},
) {
  const big = ensureCorpus("big", log);
  const ref = `bench_${name.replace(/-/g, "_")}`;
  const root = path.join(benchDir(), "packs");
  const dir = path.join(root, `${name}-pack`);
  const archive = path.join(root, `${name}-pack.tar`);
  const marker = path.join(root, `${name}-pack.json`);
  const want = JSON.stringify({ format: FORMAT, parts, partBytes });
  const info = { ref, version: "1.0.0", dir, archive, bytes: parts * partBytes, files: parts };
  if (fs.existsSync(marker) && fs.readFileSync(marker, "utf8") === want) return info;
  log(`building pack "${name}" (${parts} x ${partBytes / 2 ** 20} MiB) in ${root} ...`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const src = fs.openSync(path.join(big.dir, "big.bin"), "r");
  const buf = Buffer.alloc(4 << 20);
  try {
    for (let p = 0; p < parts; p++) {
      const out = fs.openSync(path.join(dir, `part-${p}.bin`), "w");
      for (let done = 0; done < partBytes;) {
        const n = fs.readSync(
          src,
          buf,
          0,
          Math.min(buf.length, partBytes - done),
          (p * partBytes + done) % big.bytes,
        );
        fs.writeSync(out, buf, 0, n);
        done += n;
      }
      fs.closeSync(out);
    }
  } finally {
    fs.closeSync(src);
  }
  fs.writeFileSync(path.join(dir, "pack.yaml"), packYaml(ref, "1.0.0"));
  execFileSync("tar", ["-cf", archive, "-C", dir, "."]);
  fs.writeFileSync(marker, want);
  return info;
}
