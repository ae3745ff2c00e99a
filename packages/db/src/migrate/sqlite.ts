import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { AttuneError, ErrorCodes, ioError, makeDirsSync } from "@attune/pack-storage";
import { causeLine, sqliteProblem } from "../errors";
import { SQLITE_BUSY_TIMEOUT_MS } from "../url";
import { migrationFailed, migrationsOf, pendingMigrations, type AppliedRow, type Migration } from "./plan";

// Exactly the table `prisma migrate deploy` creates on SQLite.
const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    TEXT PRIMARY KEY NOT NULL,
    "checksum"              TEXT NOT NULL,
    "finished_at"           DATETIME,
    "migration_name"        TEXT NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        DATETIME,
    "started_at"            DATETIME NOT NULL DEFAULT current_timestamp,
    "applied_steps_count"   INTEGER UNSIGNED NOT NULL DEFAULT 0
);`;

/** Prisma's SQLite timestamp text, e.g. 2026-01-01T10:00:00.123+00:00 */
const stamp = () => new Date().toISOString().replace("Z", "+00:00");

/** Open (creating the file and its directory) with the pragmas every connection of the store uses. */
export function openSqliteFile(file: string): Database.Database {
  // the store holds who installed what and token hashes: private to its owner when we create it
  try {
    makeDirsSync(path.dirname(file), 0o700);
  } catch (err) {
    throw ioError(err, path.dirname(file), "cannot create the database directory");
  }
  const isNew = !fs.existsSync(file);
  let db: Database.Database;
  try {
    db = new Database(file, { timeout: SQLITE_BUSY_TIMEOUT_MS });
  } catch (e) {
    throw cannotOpen(file, e);
  }
  try {
    if (isNew) fs.chmodSync(file, 0o600); // SQLite gives the -wal/-shm files the same mode
    // the first statement reads the file: a file that is not a database fails here
    enableWal(db); // persistent: readers never block the writer, other processes included
  } catch (e) {
    db.close();
    throw cannotOpen(file, e);
  }
  return db;
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Switch the file to WAL (once: the mode is persistent, so later opens only read it). Turning a new
 * file to WAL needs a moment's exclusive lock, and SQLite answers SQLITE_BUSY at once, without
 * waiting on the busy timeout, when another process holds the file then (two processes creating
 * one store at the same time): that is retried, for as long as the busy timeout.
 */
function enableWal(db: Database.Database): void {
  const deadline = Date.now() + SQLITE_BUSY_TIMEOUT_MS;
  for (;;) {
    try {
      if (db.pragma("journal_mode", { simple: true }) !== "wal") db.pragma("journal_mode = WAL");
      return;
    } catch (e) {
      if ((e as { code?: unknown }).code !== "SQLITE_BUSY" || Date.now() > deadline) throw e;
      Atomics.wait(pause, 0, 0, 5); // a synchronous 5 ms pause: the whole open is synchronous
    }
  }
}

function cannotOpen(file: string, e: unknown): AttuneError {
  const problem = sqliteProblem(e);
  return new AttuneError(
    ErrorCodes.EDATABASE,
    `cannot open the SQLite database ${file}: ${problem?.what ?? causeLine(e)}`,
    {
      cause: e,
      path: file,
      hint: problem?.hint ?? "check --database-url / DATABASE_URL and the file's permissions",
    },
  );
}

/**
 * Applies the pending migrations in ONE `BEGIN IMMEDIATE` transaction: a concurrent migrator waits
 * for the write lock, then sees them applied. Foreign keys are switched off around it, as SQLite
 * asks for schema changes: Prisma's table-redefinition migrations DROP a parent table, which with
 * foreign keys on would cascade-delete the child rows. foreign_key_check runs before commit.
 */
export function migrateSqliteFile(file: string, all: Migration[] = migrationsOf("sqlite")): string[] {
  const db = openSqliteFile(file);
  try {
    // every CLI run opens the store: when it is up to date, answer from a plain read instead of
    // taking the write lock that other processes may be waiting for
    if (pendingMigrations(all, appliedRows(db, file)).length === 0) return [];
    db.pragma("foreign_keys = OFF");
    db.exec("BEGIN IMMEDIATE");
    try {
      db.exec(MIGRATIONS_TABLE);
      const rows = db.prepare(`SELECT * FROM "_prisma_migrations"`).all() as AppliedRow[];
      const pending = pendingMigrations(all, rows);
      const insert = db.prepare(
        `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count) VALUES (?, ?, ?, ?, NULL, NULL, ?, 1)`,
      );
      for (const m of pending) {
        const started = stamp();
        try {
          db.exec(m.sql);
        } catch (e) {
          throw migrationFailed(m, e);
        }
        insert.run(randomUUID(), m.checksum, stamp(), m.name, started);
      }
      const broken = db.pragma("foreign_key_check") as unknown[];
      if (broken.length > 0)
        throw new AttuneError(
          ErrorCodes.EDATABASE,
          `migrations left ${broken.length} foreign key violation(s)`,
          {
            details: { violations: broken.slice(0, 10) },
          },
        );
      db.exec("COMMIT");
      return pending.map((m) => m.name);
    } catch (e) {
      if (db.inTransaction) db.exec("ROLLBACK");
      throw e instanceof AttuneError
        ? e
        : new AttuneError(ErrorCodes.EDATABASE, `migrating ${file} failed`, { cause: e, path: file });
    }
  } finally {
    db.close();
  }
}

/** The migrations recorded in the file; a damaged file (or one that is no database) is EDATABASE. */
function appliedRows(db: Database.Database, file: string): AppliedRow[] {
  try {
    const has = db
      .prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_prisma_migrations'`)
      .get();
    return has ? (db.prepare(`SELECT * FROM "_prisma_migrations"`).all() as AppliedRow[]) : [];
  } catch (e) {
    throw cannotOpen(file, e);
  }
}

/** Applied and pending migration names, without changing anything. */
export function sqliteStatus(file: string): { applied: string[]; pending: string[] } {
  const all = migrationsOf("sqlite");
  if (!fs.existsSync(file)) return { applied: [], pending: all.map((m) => m.name) };
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, timeout: SQLITE_BUSY_TIMEOUT_MS });
  } catch (e) {
    throw cannotOpen(file, e);
  }
  try {
    const pending = pendingMigrations(all, appliedRows(db, file)).map((m) => m.name);
    return { applied: all.map((m) => m.name).filter((n) => !pending.includes(n)), pending };
  } finally {
    db.close();
  }
}
