// `mkdir -p` for paths a user chooses (ATTUNE_HOME, the packs directory, a SQLite file's folder).
//
// Node's own `mkdir(dir, { recursive: true })` never returns when a file system answers ENOENT for
// a directory whose parent exists: it creates the parent (EEXIST), retries the child (ENOENT) and
// so on for ever, at full CPU (procfs does this: ATTUNE_HOME=/proc/attune hung `attune`). These
// create each missing component once, parents first, and report an ENOENT that persists.
import fs from "node:fs";
import path from "node:path";

type Errno = NodeJS.ErrnoException;

/**
 * Create `dir` and its missing parents with `mode` (before the umask); an existing directory is
 * fine. Synchronous: a few system calls, made once per store or command.
 */
export function makeDirsSync(dir: string, mode = 0o777): void {
  for (const d of missingComponents(path.resolve(dir))) {
    try {
      fs.mkdirSync(d, mode);
    } catch (err) {
      if ((err as Errno).code !== "EEXIST" || !isDirectory(d)) throw err;
    }
  }
}

/** makeDirsSync for async callers. */
export async function makeDirs(dir: string, mode = 0o777): Promise<void> {
  makeDirsSync(dir, mode);
}

/**
 * The components of the absolute path `dir` that do not exist yet, outermost first (just `dir`
 * when it exists, so mkdir's EEXIST says what it is). A component that exists but is not a
 * directory, or cannot be looked at, is left to mkdir, whose EEXIST, ENOTDIR or EACCES names it.
 */
function missingComponents(dir: string): string[] {
  const missing: string[] = [];
  for (let d = dir; ; d = path.dirname(d)) {
    try {
      fs.statSync(d);
      break;
    } catch (err) {
      if ((err as Errno).code !== "ENOENT" || path.dirname(d) === d) break;
      missing.push(d);
    }
  }
  return missing.length ? missing.reverse() : [dir];
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
