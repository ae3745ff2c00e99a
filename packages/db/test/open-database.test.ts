import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "@jest/globals";
import { migrate, migrationStatus, openDatabase, repositories } from "../src";
import { migrationsOf } from "../src/migrate";
import { sqliteProblem, toDbError } from "../src/errors";
import { migrateSqliteFile } from "../src/migrate/sqlite";
import { PROVIDERS, rejectsWith, scratchDatabase, withScratch } from "./helpers";
import { raw } from "./raw";

// What `prisma migrate diff` writes on SQLite when a column of "pack" changes (e.g. description made required).
const REDEFINE_PACK = `-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_pack" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "ref" TEXT NOT NULL,
    "label" TEXT NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "version" TEXT NOT NULL,
    "tags" TEXT NOT NULL DEFAULT '[]',
    "conf_schema" TEXT,
    "meta" TEXT NOT NULL DEFAULT '{}',
    "runtime_deps" TEXT NOT NULL DEFAULT '[]',
    "dependencies" TEXT NOT NULL DEFAULT '[]',
    "created" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated" DATETIME NOT NULL
);
INSERT INTO "new_pack" ("conf_schema", "created", "dependencies", "description", "id", "label", "meta", "ref", "runtime_deps", "tags", "updated", "version") SELECT "conf_schema", "created", "dependencies", coalesce("description", '') AS "description", "id", "label", "meta", "ref", "runtime_deps", "tags", "updated", "version" FROM "pack";
DROP TABLE "pack";
ALTER TABLE "new_pack" RENAME TO "pack";
CREATE UNIQUE INDEX "pack_ref_key" ON "pack"("ref");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
`;

describe("SQLite table redefinition", () => {
  it("does not cascade-delete child rows when Prisma redefines a parent table", async () => {
    await withScratch("sqlite", async ({ url, home }) => {
      const opened = await openDatabase({ home, databaseUrl: url });
      const repos = repositories(opened.db);
      const pack = await repos.packs.create({ ref: "core", label: "Core", version: "1.0.0" });
      await repos.installations.create({
        packId: pack.id,
        sourceType: "git",
        checksum: `sha256:${"a".repeat(64)}`,
        installationMethod: "cli",
        storagePath: "/p",
      });
      await opened.close();
      const redefine = { name: "29990101000000_redefine_pack", sql: REDEFINE_PACK, checksum: "r" };
      expect(migrateSqliteFile(url.slice(5), [...migrationsOf("sqlite"), redefine])).toEqual([redefine.name]);
      const rows = await raw(
        "sqlite",
        url,
        `SELECT p.description, i.pack_id FROM pack_installation i JOIN pack p ON p.id = i.pack_id`,
      );
      expect(rows).toEqual([{ description: "", pack_id: pack.id }]);
      expect(await raw("sqlite", url, "PRAGMA foreign_key_check")).toEqual([]);
    });
  });
});

describe("openDatabase", () => {
  it("creates and migrates the embedded store on first use, with WAL, foreign keys and a busy timeout", async () => {
    const s = await scratchDatabase("sqlite");
    const home = path.join(s.home, "nested", "home");
    try {
      const opened = await openDatabase({ home });
      expect(opened.provider).toBe("sqlite");
      expect(opened.url).toBe(`file:${path.join(home, "attune.db")}`);
      expect(fs.statSync(path.join(home, "attune.db")).mode & 0o777).toBe(0o600);
      expect(fs.statSync(home).mode & 0o777).toBe(0o700);
      const q = (
        opened.db as unknown as { $queryRawUnsafe(sql: string): Promise<Array<Record<string, unknown>>> }
      ).$queryRawUnsafe;
      const pragma = async (p: string) => Object.values((await q.call(opened.db, `PRAGMA ${p}`))[0])[0];
      expect(pragma).toBeDefined();
      expect(await pragma("journal_mode")).toBe("wal");
      expect(Number(await pragma("foreign_keys"))).toBe(1);
      expect(Number(await pragma("busy_timeout"))).toBeGreaterThanOrEqual(5000);
      expect(await opened.db.pack.count()).toBe(0);
      await opened.close();
      // second open: nothing left to apply
      expect(await migrate(opened.url)).toEqual({ applied: [] });
    } finally {
      await s.cleanup();
    }
  });

  it("a file that is not an SQLite database is EDATABASE naming it, with a hint, and is left alone", async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "attune-db-notdb-"));
    try {
      const file = path.join(home, "attune.db");
      fs.writeFileSync(file, "x".repeat(4096));
      const err = await rejectsWith(openDatabase({ home }), "EDATABASE");
      expect(err.message).toBe(
        `cannot open the SQLite database ${file}: the file is not an SQLite database, or it is damaged`,
      );
      expect((err as { hint?: string }).hint).toMatch(/DATABASE_URL.*moved away/);
      expect(fs.readFileSync(file, "utf8")).toBe("x".repeat(4096));
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  it("a database damaged inside (a valid header, garbage pages) is EDATABASE too, not an unexpected error", async () => {
    await withScratch("sqlite", async ({ url, home }) => {
      await openDatabase({ home, databaseUrl: url }).then((o) => o.close());
      const file = url.slice("file:".length);
      for (const f of [`${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
      const fd = fs.openSync(file, "r+");
      fs.writeSync(fd, Buffer.alloc(6000, 0xde), 0, 6000, 4096); // the pages after the header
      fs.closeSync(fd);
      for (const open of [() => openDatabase({ home, databaseUrl: url }), () => migrationStatus(url)]) {
        const err = await rejectsWith(open(), "EDATABASE");
        expect(err.message).toMatch(/the file is not an SQLite database, or it is damaged$/);
        expect((err as { hint?: string }).hint).toMatch(/moved away/);
      }
    });
  });

  it("rejects an unsupported DATABASE_URL with ECONFIG", async () => {
    const err = await rejectsWith(
      openDatabase({ home: "/tmp", databaseUrl: "mysql://root@localhost/x" }),
      "ECONFIG",
    );
    expect(err.details).toEqual({ field: "DATABASE_URL" });
  });
});

describe("what an SQLite failure is, in an operator's terms", () => {
  // the driver's words for each case (better-sqlite3 codes, SQLite messages, Prisma's adapter cause)
  const fail = (code: string | undefined, message: string, originalCode?: string) =>
    Object.assign(new Error(message), {
      code,
      meta: originalCode ? { driverAdapterError: { cause: { originalCode } } } : undefined,
    });
  it.each([
    ["a full disk", fail("SQLITE_FULL", "database or disk is full"), /disk .* is full/, /free space/],
    ["a full disk via Prisma", fail("P2010", "Raw query failed", "SQLITE_FULL"), /is full/, /free space/],
    [
      "a read-only file",
      fail("SQLITE_READONLY", "attempt to write a readonly database"),
      /read-only/,
      /chattr -i/,
    ],
    ["no permission", fail("SQLITE_PERM", "access permission denied"), /permission denied/, /read and write/],
    [
      "cannot open",
      fail("SQLITE_CANTOPEN", "unable to open database file"),
      /cannot be opened/,
      /directory exists/,
    ],
    ["an I/O error", fail("SQLITE_IOERR_WRITE", "disk I/O error"), /disk I\/O error/, /usually fine/],
    ["a damaged file", fail("SQLITE_CORRUPT", "database disk image is malformed"), /damaged/, /moved away/],
  ])("%s", (_name, err, what, hint) => {
    const p = sqliteProblem(err)!;
    expect(p.what).toMatch(what);
    expect(p.hint).toMatch(hint);
    // only a damaged file is ever to be moved away: that would lose a healthy database
    if (!/damaged/.test(p.what)) expect(p.hint).not.toMatch(/move/);
    expect(toDbError(err, "record x").message).toBe(`record x: ${p.what}`);
  });

  it("PostgreSQL's words and file names in a message are not read as an SQLite file problem", () => {
    for (const err of [
      Object.assign(new Error("permission denied for table Pack"), { code: "42501" }),
      new Error('Invalid `prisma.pack.create()` invocation: data { name: "eio-enospc-eperm" }'),
    ])
      expect(sqliteProblem(err)).toBeNull();
  });

  it("anything else names the cause's own last line", () => {
    const err = new Error("Invalid `prisma.pack.create()` invocation:\n\n\nno such table: Pack");
    expect(sqliteProblem(err)).toBeNull();
    expect(toDbError(err, "record x").message).toBe("record x: database error (no such table: Pack)");
  });
});

describe.each(PROVIDERS.filter((p) => p.name === "postgresql"))("openDatabase [$name]", ({ available }) => {
  (available ? it : it.skip)("a connection that fails says why and what to fix", async () => {
    const base = new URL(process.env.TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres");
    const missing = new URL(base);
    missing.pathname = "/attune_no_such_database_x";
    let err = await rejectsWith(openDatabase({ home: "/tmp", databaseUrl: missing.href }), "EDATABASE");
    expect(err.message).toMatch(/database "attune_no_such_database_x" does not exist/);
    expect((err as { hint?: string }).hint).toMatch(/createdb/);
    const closed = new URL(base);
    closed.port = "1";
    err = await rejectsWith(openDatabase({ home: "/tmp", databaseUrl: closed.href }), "EDATABASE");
    expect(err.message).toMatch(/ECONNREFUSED/);
    expect((err as { hint?: string }).hint).toMatch(/start the server/);
  });

  (available ? it : it.skip)("does not migrate PostgreSQL implicitly and says how to", async () => {
    await withScratch("postgresql", async ({ url, home }) => {
      const err = await rejectsWith(openDatabase({ home, databaseUrl: url }), "EDATABASE");
      expect(err.message).toContain("not migrated");
      expect((err as { hint?: string }).hint).toContain("attune db migrate");
      const opened = await openDatabase({ home, databaseUrl: url, migrate: true });
      expect(opened.provider).toBe("postgresql");
      await opened.close();
      const again = await openDatabase({ home, databaseUrl: url });
      expect(await again.db.pack.count()).toBe(0);
      await again.close();
    });
  });
});
