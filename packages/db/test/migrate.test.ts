import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "@jest/globals";
import { migrate, migrationStatus, openDatabase, repositories, type Provider } from "../src";
import { migrationsOf } from "../src/migrate";
import { migratePostgres } from "../src/migrate/postgres";
import { migrateSqliteFile } from "../src/migrate/sqlite";
import { PACKAGE_DIR, PROVIDERS, rejectsWith, scratchDatabase, type Scratch } from "./helpers";
import { raw } from "./raw";

const INIT = migrationsOf("sqlite").map((m) => m.name);

/** `prisma migrate status` through the package's CLI config (the development tool must agree with us). */
function prismaCli(provider: Provider, url: string, ...args: string[]) {
  const config = provider === "sqlite" ? "prisma.sqlite.config.ts" : "prisma.postgres.config.ts";
  const r = spawnSync(path.join(PACKAGE_DIR, "node_modules/.bin/prisma"), [...args, "--config", config], {
    cwd: PACKAGE_DIR,
    encoding: "utf8",
    env: {
      ...process.env,
      ...(provider === "sqlite" ? { SQLITE_URL: url } : { DATABASE_URL: url }),
      PRISMA_HIDE_UPDATE_MESSAGE: "1",
      CHECKPOINT_DISABLE: "1",
    },
  });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

async function withScratch<T>(provider: Provider, fn: (s: Scratch) => Promise<T>): Promise<T> {
  const s = await scratchDatabase(provider);
  try {
    return await fn(s);
  } finally {
    await s.cleanup();
  }
}

describe.each(PROVIDERS)("runtime migrator [$name]", ({ name: provider, available }) => {
  if (!available) {
    it.skip("PostgreSQL unreachable: skipped (see the NOTE above)", () => undefined);
    return;
  }

  it("migrates an empty database, then is idempotent, and `prisma migrate status` agrees", async () => {
    await withScratch(provider, async ({ url }) => {
      expect(await migrationStatus(url)).toEqual({ applied: [], pending: INIT });
      expect(prismaCli(provider, url, "migrate", "status").status).not.toBe(0); // the CLI sees it pending too
      expect(await migrate(url)).toEqual({ applied: INIT });
      expect(await migrate(url)).toEqual({ applied: [] });
      expect(await migrationStatus(url)).toEqual({ applied: INIT, pending: [] });
      const rows = await raw(provider, url, `SELECT * FROM "_prisma_migrations"`);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ migration_name: INIT[0], logs: null, rolled_back_at: null });
      expect(Number(rows[0].applied_steps_count)).toBe(1);
      expect(rows[0].checksum).toBe(migrationsOf(provider)[0].checksum);
      const cli = prismaCli(provider, url, "migrate", "status");
      expect(cli.out).toContain("Database schema is up to date");
      expect(cli.status).toBe(0);
    });
  });

  it("accepts a database migrated by `prisma migrate deploy` as up to date", async () => {
    await withScratch(provider, async ({ url }) => {
      const deploy = prismaCli(provider, url, "migrate", "deploy");
      expect(deploy.status).toBe(0);
      expect(await migrate(url)).toEqual({ applied: [] });
    });
  });

  it("refuses a database whose applied migration was edited, unknown or failed", async () => {
    await withScratch(provider, async ({ url }) => {
      await migrate(url);
      await raw(provider, url, `UPDATE "_prisma_migrations" SET checksum = '${"0".repeat(64)}'`);
      expect((await rejectsWith(migrate(url), "EDATABASE")).message).toMatch(
        /was modified after it was applied/,
      );
      await rejectsWith(migrationStatus(url), "EDATABASE");
      await raw(
        provider,
        url,
        `UPDATE "_prisma_migrations" SET checksum = '${migrationsOf(provider)[0].checksum}'`,
      );
      expect(await migrate(url)).toEqual({ applied: [] });

      await raw(
        provider,
        url,
        `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, started_at, applied_steps_count)
         VALUES ('future', '${"1".repeat(64)}', CURRENT_TIMESTAMP, '29990101000000_future', CURRENT_TIMESTAMP, 1)`,
      );
      expect((await rejectsWith(migrate(url), "EDATABASE")).message).toMatch(/does not know/);
      await raw(provider, url, `UPDATE "_prisma_migrations" SET finished_at = NULL WHERE id = 'future'`);
      expect((await rejectsWith(migrate(url), "EDATABASE")).message).toMatch(/did not finish/);
      // a rolled-back attempt no longer counts (Prisma's semantics)
      await raw(
        provider,
        url,
        `UPDATE "_prisma_migrations" SET rolled_back_at = CURRENT_TIMESTAMP WHERE id = 'future'`,
      );
      expect(await migrate(url)).toEqual({ applied: [] });
    });
  });

  it("keeps nothing of a migration that fails", async () => {
    await withScratch(provider, async ({ url }) => {
      const good = migrationsOf(provider);
      const broken = {
        name: "29990101000000_broken",
        sql: `CREATE TABLE "half" (id INTEGER);\nSELECT * FROM "no_such_table";`,
        checksum: "x",
      };
      const run = () =>
        provider === "sqlite"
          ? migrateSqliteFile(url.slice(5), [...good, broken])
          : migratePostgres(url, [...good, broken]);
      const err = await rejectsWith(Promise.resolve().then(run), "EDATABASE");
      expect(err.message).toContain("29990101000000_broken failed");
      const tables = await raw(
        provider,
        url,
        provider === "sqlite"
          ? `SELECT name FROM sqlite_master WHERE name = 'half'`
          : `SELECT tablename AS name FROM pg_tables WHERE tablename = 'half'`,
      );
      expect(tables).toEqual([]);
      // SQLite applies all pending migrations in one transaction; PostgreSQL one transaction per migration
      expect((await migrationStatus(url)).applied).toEqual(provider === "sqlite" ? [] : INIT);
    });
  });

  it("lets concurrent migrators apply each migration exactly once", async () => {
    await withScratch(provider, async ({ url }) => {
      const results = await Promise.all([migrate(url), migrate(url), migrate(url)]);
      expect(results.map((r) => r.applied).flat()).toEqual(INIT);
      expect(await raw(provider, url, `SELECT migration_name FROM "_prisma_migrations"`)).toHaveLength(1);
    });
  });

  it("enforces the enum-like columns in the database itself, below the repositories", async () => {
    await withScratch(provider, async ({ url }) => {
      await migrate(url);
      const now = provider === "sqlite" ? "CURRENT_TIMESTAMP" : "now()";
      await raw(
        provider,
        url,
        `INSERT INTO "pack" (ref, label, version, updated) VALUES ('p', 'P', '1', ${now})`,
      );
      const insert = (sourceType: string, method: string) =>
        raw(
          provider,
          url,
          `INSERT INTO "pack_installation" (pack_id, source_type, checksum, installation_method, storage_path, updated)
           VALUES (1, '${sourceType}', 'c', '${method}', '/p', ${now})`,
        );
      await expect(insert("svn", "cli")).rejects.toThrow(/source_type/);
      await expect(insert("git", "telepathy")).rejects.toThrow(/installation_method/);
      await insert("git", "cli");
      await expect(
        raw(
          provider,
          url,
          `INSERT INTO "install_event" (pack_ref, action, outcome) VALUES ('p', 'install', 'meh')`,
        ),
      ).rejects.toThrow(/outcome/);
    });
  });
});

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

  it("rejects an unsupported DATABASE_URL with ECONFIG", async () => {
    const err = await rejectsWith(
      openDatabase({ home: "/tmp", databaseUrl: "mysql://root@localhost/x" }),
      "ECONFIG",
    );
    expect(err.details).toEqual({ field: "DATABASE_URL" });
  });
});

describe.each(PROVIDERS.filter((p) => p.name === "postgresql"))("openDatabase [$name]", ({ available }) => {
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
