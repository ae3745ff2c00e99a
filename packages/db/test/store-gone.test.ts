import fs from "node:fs";
import os from "node:os";
import { describe, expect, it } from "@jest/globals";
import { createTestDatabase, postgresAdminUrl } from "@attune/test-utils";
import { migrate, openDatabase, openDirectWriter, openInstallationLister, repositories } from "../src";
import { sqliteFilePath } from "../src/url";
import { POSTGRES, rejectsWith, uniqueRef, withScratch } from "./helpers";
import { raw } from "./raw";

const event = (ref: string) => ({
  packRef: ref,
  version: "1.0.0",
  action: "install" as const,
  outcome: "success" as const,
});

/** Remove the database file and its WAL companions, as `rm attune.db*` would under a running API. */
function removeDatabase(file: string): void {
  for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
}

describe("an SQLite file deleted or replaced under a long-running process", () => {
  it("every path refuses to read or write the orphaned file, naming it and what to do", async () => {
    await withScratch("sqlite", async ({ url, home }) => {
      const opened = await openDatabase({ home, databaseUrl: url, migrate: true });
      const writer = openDirectWriter(url);
      const lister = openInstallationLister(url);
      try {
        const ref = uniqueRef("gone");
        // all three connections open and working
        await writer.appendEvent(event(ref));
        expect((await lister.events(ref)).length).toBe(1);
        await repositories(opened.db).identities.create({ name: uniqueRef("who") });

        removeDatabase(sqliteFilePath(url));

        const w = await rejectsWith(writer.appendEvent(event(ref)), "EDATABASE");
        expect(w.message).toContain(`${sqliteFilePath(url)} was deleted while this process had it open`);
        expect((w as { hint?: string }).hint).toMatch(
          /^stop every attune process using this database; .*delete the -wal and -shm files/,
        );
        await rejectsWith(lister.events(ref), "EDATABASE");
        await rejectsWith(lister.list(), "EDATABASE");
        await rejectsWith(lister.dataVersion(), "EDATABASE");
        // Prisma's connection (the API's tokens) fails the same way, reads and writes alike
        await expect(repositories(opened.db).identities.create({ name: uniqueRef("who") })).rejects.toThrow(
          /was deleted while this process had it open/,
        );
        // nothing was written anywhere: the path is still empty
        expect(fs.existsSync(sqliteFilePath(url))).toBe(false);
      } finally {
        await writer.close();
        await lister.close();
        await opened.close();
      }
    });
  });

  it("its -wal and -shm deleted (rm attune.db-*) are refused too: the WAL holds the latest commits", async () => {
    await withScratch("sqlite", async ({ url, home }) => {
      await openDatabase({ home, databaseUrl: url, migrate: true }).then((o) => o.close());
      const writer = openDirectWriter(url);
      const lister = openInstallationLister(url);
      try {
        const ref = uniqueRef("wal");
        // two statements each: from then on the connections hold the companions open
        for (let i = 0; i < 2; i++) {
          await writer.appendEvent(event(ref));
          expect((await lister.events(ref)).length).toBe(i + 1);
        }
        const file = sqliteFilePath(url);
        expect(fs.existsSync(`${file}-wal`)).toBe(true);
        fs.rmSync(`${file}-wal`);
        fs.rmSync(`${file}-shm`);
        const w = await rejectsWith(writer.appendEvent(event(ref)), "EDATABASE");
        expect(w.message).toContain(`${file}-wal was deleted while this process had it open`);
        await rejectsWith(lister.events(ref), "EDATABASE");
      } finally {
        await writer.close();
        await lister.close();
      }
    });
  });

  it("another process opening and closing the database does not read as a deleted WAL", async () => {
    await withScratch("sqlite", async ({ url, home }) => {
      await openDatabase({ home, databaseUrl: url, migrate: true }).then((o) => o.close());
      const writer = openDirectWriter(url);
      try {
        const ref = uniqueRef("churn");
        for (let i = 0; i < 5; i++) {
          // a short-lived second connection (another CLI run) writes and closes
          const other = openDirectWriter(url);
          await other.appendEvent(event(ref));
          await other.close();
          await writer.appendEvent(event(ref));
        }
      } finally {
        await writer.close();
      }
    });
  });

  it("a file moved into its place (a restore under a running process) is refused too", async () => {
    await withScratch("sqlite", async ({ url, home }) => {
      await openDatabase({ home, databaseUrl: url, migrate: true }).then((o) => o.close());
      const writer = openDirectWriter(url);
      const lister = openInstallationLister(url);
      try {
        const ref = uniqueRef("swap");
        await writer.appendEvent(event(ref));
        expect(await lister.findByRef(ref)).toBeNull(); // opened before the swap
        const file = sqliteFilePath(url);
        fs.copyFileSync(file, `${file}.restored`);
        fs.renameSync(`${file}.restored`, file);

        const w = await rejectsWith(writer.appendEvent(event(ref)), "EDATABASE");
        expect(w.message).toContain("was replaced by another file");
        await rejectsWith(lister.findByRef(ref), "EDATABASE");
      } finally {
        await writer.close();
        await lister.close();
      }
      // a fresh process (a new writer) uses the file now at the path
      const fresh = openDirectWriter(url);
      try {
        await fresh.appendEvent(event(uniqueRef("after")));
      } finally {
        await fresh.close();
      }
    });
  });
});

describe("a PostgreSQL database dropped under a running process", () => {
  (POSTGRES ? it : it.skip)(
    "fails with EDATABASE saying it cannot use the database, with a hint that fits",
    async () => {
      const pg = await createTestDatabase("attune_db_dropped");
      await migrate(pg.url);
      const lister = openInstallationLister(pg.url);
      // Prisma's connection too (the API verifies tokens through it): it wraps the server's 3D000
      const opened = await openDatabase({ home: os.tmpdir(), databaseUrl: pg.url, migrate: false });
      const tokens = repositories(opened.db).tokens;
      type Failure = { code?: string; message?: string; hint?: string; details?: Record<string, unknown> };
      const failure = (p: Promise<unknown>) =>
        p.then(
          () => null,
          (err: unknown) => err as Failure,
        );
      try {
        await lister.list();
        await tokens.list();
        await pg.drop(); // DROP DATABASE ... WITH (FORCE): our connections are terminated
        for (let i = 0; i < 2; i++) {
          // the first call meets the terminated connection, the next a database that does not exist
          const e = await failure(lister.list());
          expect(e).toMatchObject({ code: "EDATABASE", details: { unavailable: true } });
          expect(e!.message).toMatch(/^list installations: cannot use the database \(/);
          expect(e!.hint).not.toMatch(/migrate/);
          const t = await failure(tokens.list());
          // unavailable: the API answers 503 with Retry-After, not 500
          expect(t).toMatchObject({ code: "EDATABASE", details: { unavailable: true } });
          expect(t!.message).toMatch(/^list tokens: cannot use the database \(/);
          expect(t!.hint).not.toMatch(/migrate/);
        }
        const t = await failure(tokens.verify(`att_${"a".repeat(43)}`));
        expect(t).toMatchObject({ code: "EDATABASE", details: { unavailable: true } });
        expect(t!.hint).toMatch(/create that database \(createdb\)/);
        // created again but empty (not migrated): readiness still fails, now pointing at the migration
        await raw("postgresql", postgresAdminUrl(), `CREATE DATABASE "${pg.name}"`);
        const fresh = openInstallationLister(pg.url);
        try {
          await expect(fresh.ping()).rejects.toMatchObject({
            code: "EDATABASE",
            hint: expect.stringMatching(/attune db migrate/),
          });
          await migrate(pg.url);
          await expect(fresh.ping()).resolves.toBeUndefined();
        } finally {
          await fresh.close();
          await pg.drop();
        }
      } finally {
        await lister.close();
        await opened.close();
      }
    },
  );
});
