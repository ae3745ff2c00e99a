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

/** Watch `file` (the path a connection was just opened on). */
export function watchSqliteFile(file: string): SqliteFileWatch {
  const first = identity(file);
  const opened = first === "gone" ? null : first;
  return {
    check() {
      const now = identity(file);
      if (now === "gone") throw moved(file, "was deleted");
      if (opened && now && (now.dev !== opened.dev || now.ino !== opened.ino))
        throw moved(file, "was replaced by another file");
    },
  };
}

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
      hint: "restart this process so it opens the file now at that path (restore the database from a backup first if it was removed by mistake)",
      details: { path: file },
    },
  );
}
