import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: "Test",
  GIT_AUTHOR_EMAIL: "test@example.com",
  GIT_COMMITTER_NAME: "Test",
  GIT_COMMITTER_EMAIL: "test@example.com",
  GIT_CONFIG_NOSYSTEM: "1",
  HOME: "/nonexistent",
};

export function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, { cwd, env: GIT_ENV, encoding: "utf8" }).trim();
}

/** Write `files` (relative path -> content) into `dir`, creating parents. */
export function writeTree(dir: string, files: Record<string, string | Buffer>): void {
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(dir, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
  }
}

export interface CommitSpec {
  files: Record<string, string | Buffer>;
  message?: string;
  /** annotated tag name */
  tag?: string;
  /** lightweight tag name */
  lightweightTag?: string;
}

/**
 * Create `<root>/<name>.git` (bare) from a work tree with one commit per spec on `main`.
 * Returns the commit SHAs in order.
 */
export function makeBareRepo(
  root: string,
  name: string,
  commits: CommitSpec[],
  branches: Record<string, CommitSpec[]> = {},
): string[] {
  const work = path.join(root, `${name}-work`);
  fs.mkdirSync(work, { recursive: true });
  git(work, "init", "-q", "-b", "main");
  const shas: string[] = [];
  for (const c of commits) {
    writeTree(work, c.files);
    git(work, "add", "-A");
    git(work, "commit", "-q", "-m", c.message ?? "commit");
    shas.push(git(work, "rev-parse", "HEAD"));
    if (c.tag) git(work, "tag", "-a", c.tag, "-m", c.tag);
    if (c.lightweightTag) git(work, "tag", c.lightweightTag);
  }
  for (const [branch, specs] of Object.entries(branches)) {
    git(work, "checkout", "-q", "-b", branch);
    for (const c of specs) {
      writeTree(work, c.files);
      git(work, "add", "-A");
      git(work, "commit", "-q", "-m", c.message ?? "commit");
      shas.push(git(work, "rev-parse", "HEAD"));
      if (c.tag) git(work, "tag", "-a", c.tag, "-m", c.tag);
    }
    git(work, "checkout", "-q", "main");
  }
  git(root, "clone", "-q", "--bare", work, path.join(root, `${name}.git`));
  fs.rmSync(work, { recursive: true, force: true });
  return shas;
}

/** One entry of a tree written by `writeRawTree`: any mode and any name, as git mktree takes them. */
export interface RawTreeEntry {
  /** as written in the tree: "100644", "100755", "100664", "040000", "120000", "160000" */
  mode: string;
  type: "blob" | "tree" | "commit";
  oid: string;
  name: string | Buffer;
}

function gitInput(cwd: string, input: string | Buffer, ...args: string[]): string {
  return execFileSync("git", args, { cwd, env: GIT_ENV, input }).toString("utf8").trim();
}

/** Store `content` as a blob in the repository at `gitDir` (bare or not); its id. */
export function writeBlob(gitDir: string, content: string | Buffer): string {
  return gitInput(gitDir, content, "hash-object", "-w", "--stdin");
}

/**
 * Write a tree exactly as given, names and modes that git itself would never write included
 * (`..`, `.git`, an empty name, mode 100664): hostile repositories for the git source's checks.
 * Its id.
 */
export function writeRawTree(gitDir: string, entries: RawTreeEntry[]): string {
  const body = Buffer.concat(
    entries.map((e) =>
      Buffer.concat([Buffer.from(`${e.mode} ${e.type} ${e.oid}\t`), Buffer.from(e.name), Buffer.from([0])]),
    ),
  );
  return gitInput(gitDir, body, "mktree", "-z", "--missing");
}

/** Commit `tree` (no parent) and tag the commit `tag` (lightweight); the commit's id. */
export function commitRawTree(gitDir: string, tree: string, tag: string): string {
  const commit = gitInput(gitDir, tag, "commit-tree", tree);
  git(gitDir, "tag", "-f", tag, commit);
  return commit;
}
