import fs from "node:fs";
import { AttuneError, ErrorCodes } from "@attune/pack-storage";

/**
 * The identity (device and inode) of the SQLite file a connection opened. A long-running process
 * (the API) keeps its connections open; when the file is deleted or replaced under it, SQLite goes
 * on reading and writing the old inode, and every write after that would vanish at restart. Each
 * statement of the direct paths checks the path still names the file it opened (one stat, ~2 µs),
 * so such a process fails loudly instead of losing records.
 */
export interface SqliteFileWatch {
  /** Throws EDATABASE when the path no longer names the file the connection opened. */
  check(): void;
}

/**
 * Watch `file` (the path a connection was just opened on), and its `-wal` and `-shm` companions:
 * once a statement has run, the connection holds them open and SQLite never removes or recreates
 * them while any connection is open, so a change means someone deleted them (a `rm attune.db*`):
 * the WAL holds the latest commits, and the next statements would write into an orphan.
 */
export function watchSqliteFile(file: string): SqliteFileWatch {
  const first = identity(file);
  const opened = first === "gone" ? null : first;
  const seen = new Map<string, { dev: number; ino: number }>();
  let checks = 0;
  return {
    check() {
      // before the first statement the connection may not hold the companions yet (another
      // process closing last may still remove them): they are recorded from the second check on
      const record = checks++ > 0;
      const now = identity(file);
      if (now === "gone") throw moved(file, "was deleted");
      if (opened && now && !same(now, opened)) throw moved(file, "was replaced by another file");
      for (const companion of [`${file}-wal`, `${file}-shm`]) {
        const id = identity(companion);
        const before = seen.get(companion);
        if (before && id === "gone") throw moved(companion, "was deleted");
        if (before && id && id !== "gone" && !same(id, before))
          throw moved(companion, "was replaced by another file");
        // seen after a statement has run: from now on the connection holds it open
        if (record && id && id !== "gone" && !before) seen.set(companion, id);
      }
    },
  };
}

const same = (a: { dev: number; ino: number }, b: { dev: number; ino: number }) =>
  a.dev === b.dev && a.ino === b.ino;

/** The file's identity; "gone" when nothing is at the path; null when it cannot be told. */
function identity(file: string): { dev: number; ino: number } | "gone" | null {
  try {
    const st = fs.statSync(file);
    return { dev: st.dev, ino: st.ino };
  } catch (e) {
    // another failure (say, a permission change on the directory) is SQLite's to report
    return (e as NodeJS.ErrnoException).code === "ENOENT" ? "gone" : null;
  }
}

function moved(file: string, what: string): AttuneError {
  return new AttuneError(
    ErrorCodes.EDATABASE,
    `the database file ${file} ${what} while this process had it open; records written now would be lost`,
    {
      hint: "stop every attune process using this database; if a backup was restored on purpose, delete the -wal and -shm files next to it first (they belong to the old file and would be replayed into the restored one); then start again",
      details: { path: file },
    },
  );
}
