// A PostgreSQL server that accepts connections but never answers (hung, the wrong service on the
// port, a firewall that drops packets), or that stops answering in the middle of a session, must
// not hang a command or an API request for ever: every path fails with EDATABASE naming the
// timeout, within the connect / statement timeout (DATABASE_URL's connect_timeout / query_timeout).
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { createTestDatabase, freezableProxy, silentServer } from "@attune/test-utils";
import {
  acquirePostgresLock,
  createClient,
  migrate,
  openDirectWriter,
  openInstallationLister,
  prepareDatabase,
  repositories,
} from "../src";
import { connectPostgres } from "../src/migrate/postgres";
import {
  POSTGRES_CONNECT_TIMEOUT_MS,
  POSTGRES_QUERY_TIMEOUT_MS,
  postgresOptions,
  resolveDatabaseUrl,
} from "../src/url";
import { POSTGRES, rejectsWith, uniqueRef } from "./helpers";

/** Rejects with EDATABASE whose message names the timeout, within `withinMs`. */
async function timesOut(p: Promise<unknown>, kind: "connect" | "query", withinMs: number): Promise<void> {
  const started = Date.now();
  const err = await rejectsWith(p, "EDATABASE");
  expect(Date.now() - started).toBeLessThan(withinMs);
  expect(err.message).toContain(`(${kind} timeout`);
  expect((err as { hint?: string }).hint).toMatch(/connect_timeout=<seconds> or query_timeout=<ms>/);
}

describe("postgresOptions", () => {
  it("sets the default connect and statement timeouts, and keep-alive", () => {
    expect(postgresOptions("postgresql://u@h/db")).toEqual({
      connectionString: "postgresql://u@h/db",
      connectionTimeoutMillis: POSTGRES_CONNECT_TIMEOUT_MS,
      query_timeout: POSTGRES_QUERY_TIMEOUT_MS,
      keepAlive: true,
    });
  });

  it("takes connect_timeout from the URL in seconds, as libpq does (0 waits for ever); no statement timeout on request", () => {
    expect(postgresOptions("postgresql://u@h/db?connect_timeout=3").connectionTimeoutMillis).toBe(3000);
    expect(postgresOptions("postgresql://u@h/db?connect_timeout=0").connectionTimeoutMillis).toBe(0);
    expect(postgresOptions("postgresql://u@h/db?connect_timeout=soon").connectionTimeoutMillis).toBe(
      POSTGRES_CONNECT_TIMEOUT_MS,
    );
    expect(postgresOptions("postgresql://u@h/db", { queryTimeout: false })).not.toHaveProperty(
      "query_timeout",
    );
    // the driver prefers the URL's query_timeout to the option: "none" removes the URL's too
    const noLimit = postgresOptions("postgresql://u@h/db?query_timeout=2000&x=1", { queryTimeout: false });
    expect(new URL(noLimit.connectionString).searchParams.has("query_timeout")).toBe(false);
    expect(new URL(noLimit.connectionString).searchParams.get("x")).toBe("1");
    expect(postgresOptions("postgresql://u@h/db?query_timeout=2000").connectionString).toContain(
      "query_timeout=2000",
    );
  });

  it("refuses a connect_timeout or query_timeout that is not a whole number (the driver would ignore it)", () => {
    for (const bad of ["connect_timeout=abc", "connect_timeout=-1", "query_timeout=1.5", "query_timeout="]) {
      const url = `postgresql://u@h/db?${bad}`;
      expect(() => resolveDatabaseUrl({ home: "/h", databaseUrl: url })).toThrow(
        expect.objectContaining({
          code: "ECONFIG",
          message: expect.stringMatching(/^DATABASE_URL's (connect|query)_timeout must be a whole number of/),
        }),
      );
    }
    expect(resolveDatabaseUrl({ home: "/h", databaseUrl: "postgresql://u@h/db?connect_timeout=0" })).toBe(
      "postgresql://u@h/db?connect_timeout=0",
    );
  });
});

describe("migrations run without a statement timeout, whatever DATABASE_URL says", () => {
  (POSTGRES ? it : it.skip)(
    "db migrate waits for another migrator's lock longer than the URL's query_timeout",
    async () => {
      const database = await createTestDatabase("attune_timeouts_migrate");
      const holder = await connectPostgres(database.url);
      try {
        // another migrator holds Prisma's migrate lock for 2.5 s
        await holder.query("SELECT pg_advisory_lock(72707369)");
        const release = setTimeout(() => void holder.query("SELECT pg_advisory_unlock(72707369)"), 2500);
        const u = new URL(database.url);
        u.searchParams.set("query_timeout", "500");
        const started = Date.now();
        try {
          const { applied } = await migrate(u.toString());
          expect(Date.now() - started).toBeGreaterThan(2000);
          expect(applied.length).toBeGreaterThan(0);
        } finally {
          clearTimeout(release);
        }
      } finally {
        await holder.end().catch(() => undefined);
        await database.drop();
      }
    },
    20_000,
  );
});

describe("a statement that waits too long for a lock", () => {
  (POSTGRES ? it : it.skip)(
    "the start-up check on a migrations table another session holds fails with the documented EDATABASE, not EUNEXPECTED",
    async () => {
      const database = await createTestDatabase("attune_timeouts_status");
      const holder = await connectPostgres(database.url);
      try {
        await migrate(database.url);
        await holder.query("BEGIN");
        await holder.query(`LOCK TABLE "_prisma_migrations" IN ACCESS EXCLUSIVE MODE`);
        const u = new URL(database.url);
        u.searchParams.set("query_timeout", "1000");
        const p = prepareDatabase({ home: "/nonexistent", databaseUrl: u.toString() });
        await timesOut(p, "query", 5000);
        await expect(p).rejects.toMatchObject({
          message: `check the migrations of ${u.toString()}: the server did not answer a statement in time (query timeout: 30 s, or DATABASE_URL's query_timeout)`,
          details: { unavailable: true },
        });
      } finally {
        await holder.end().catch(() => undefined);
        await database.drop();
      }
    },
    20_000,
  );
});

describe("a PostgreSQL server that accepts connections and never answers", () => {
  let silent: Awaited<ReturnType<typeof silentServer>>;
  let url: string;
  beforeAll(async () => {
    silent = await silentServer();
    url = `postgresql://postgres@127.0.0.1:${silent.port}/attune?connect_timeout=1`;
  });
  afterAll(() => silent.close());

  it("the start-up check, migrations and the lock fail after the connect timeout, not never", async () => {
    await timesOut(prepareDatabase({ home: "/nonexistent", databaseUrl: url }), "connect", 5000);
    await timesOut(migrate(url), "connect", 5000);
    await timesOut(acquirePostgresLock(url, uniqueRef("lock"), { timeoutMs: 100 }), "connect", 5000);
  });

  it("the direct read and write paths and Prisma's client fail the same way", async () => {
    const lister = openInstallationLister(url);
    const writer = openDirectWriter(url);
    const db = await createClient(url);
    try {
      await timesOut(lister.list(), "connect", 5000);
      await timesOut(
        writer.appendEvent({
          packRef: uniqueRef("x"),
          version: "1.0.0",
          action: "install",
          outcome: "success",
        }),
        "connect",
        5000,
      );
      const started = Date.now();
      await expect(repositories(db).identities.create({ name: uniqueRef("who") })).rejects.toMatchObject({
        code: "EDATABASE",
        message: expect.stringContaining("(connect timeout"),
      });
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await lister.close();
      await writer.close();
      await db.$disconnect().catch(() => undefined);
    }
  });
});

describe("a PostgreSQL server that stops answering in the middle of a session", () => {
  (POSTGRES ? it : it.skip)(
    "a statement fails after the query timeout; the process does not hang",
    async () => {
      const database = await createTestDatabase("attune_timeouts");
      const proxy = await freezableProxy(new URL(database.url));
      try {
        await migrate(database.url);
        const u = new URL(database.url);
        u.host = `127.0.0.1:${proxy.port}`;
        u.searchParams.set("query_timeout", "1000");
        const url = u.toString();
        const lister = openInstallationLister(url);
        const db = await createClient(url);
        try {
          await lister.ping(); // connected and answering
          await repositories(db).identities.create({ name: uniqueRef("who") });
          proxy.freeze();
          await timesOut(lister.ping(), "query", 5000);
          const started = Date.now();
          await expect(repositories(db).identities.create({ name: uniqueRef("who") })).rejects.toMatchObject({
            code: "EDATABASE",
          });
          expect(Date.now() - started).toBeLessThan(5000);
        } finally {
          await lister.close();
          await db.$disconnect().catch(() => undefined);
        }
      } finally {
        await proxy.close();
        await database.drop();
      }
    },
    20_000,
  );
});
