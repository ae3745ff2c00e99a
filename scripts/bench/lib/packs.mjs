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
