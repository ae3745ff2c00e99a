import { randomUUID } from "node:crypto";
import type pg from "pg";
import { AttuneError, ErrorCodes } from "@attune/pack-storage";
import { loadPg } from "../drivers";
import { causeLine, connectionLost, postgresConnectHint, postgresTimeout, toDbError } from "../errors";
import { postgresOptions, redactUrl } from "../url";
import { migrationFailed, migrationsOf, pendingMigrations, type AppliedRow, type Migration } from "./plan";

// Exactly the table `prisma migrate deploy` creates on PostgreSQL.
const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
);`;

/** Prisma's own migrate advisory-lock key: our migrator and `prisma migrate deploy` exclude each other. */
const PRISMA_MIGRATE_LOCK = 72707369;

/**
 * A dedicated connection, with the connect timeout; statements time out too unless
 * `queryTimeout: false` (migrations, which may take long and wait for other migrators).
 */
export async function connectPostgres(
  url: string,
  opts: { queryTimeout?: boolean } = {},
): Promise<pg.Client> {
  const client = new (loadPg().Client)(postgresOptions(url, opts));
  // An idle connection that breaks (server restart) emits 'error'; unhandled, that would crash the
  // process. The next query on it fails and reports the problem instead.
  client.on("error", () => undefined);
  try {
    await client.connect();
  } catch (e) {
    throw new AttuneError(
      ErrorCodes.EDATABASE,
      `cannot connect to PostgreSQL at ${redactUrl(url)}: ${postgresTimeout(e) ?? causeLine(e)}`,
      { cause: e, hint: postgresConnectHint(e), details: { unavailable: true } },
    );
  }
  return client;
}

/**
 * Applies each pending migration in its own transaction (PostgreSQL DDL is transactional), under
 * Prisma's migrate advisory lock so concurrent migrators (several API instances starting) queue up.
 */
export async function migratePostgres(
  url: string,
  all: Migration[] = migrationsOf("postgresql"),
): Promise<string[]> {
  const client = await connectPostgres(url, { queryTimeout: false });
  try {
    await client.query("SELECT pg_advisory_lock($1)", [PRISMA_MIGRATE_LOCK]);
    await client.query(MIGRATIONS_TABLE);
    const { rows } = await client.query<AppliedRow>(`SELECT * FROM "_prisma_migrations"`);
    const pending = pendingMigrations(all, rows);
    for (const m of pending) {
      await client.query("BEGIN");
      try {
        const started = new Date();
        try {
          await client.query(m.sql);
        } catch (e) {
          throw migrationFailed(m, e);
        }
        await client.query(
          `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count) VALUES ($1, $2, now(), $3, NULL, NULL, $4, 1)`,
          [randomUUID(), m.checksum, m.name, started],
        );
        await client.query("COMMIT");
      } catch (e) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw e;
      }
    }
    return pending.map((m) => m.name);
  } catch (e) {
    throw e instanceof AttuneError
      ? e
      : new AttuneError(
          ErrorCodes.EDATABASE,
          `migrating ${redactUrl(url)} failed: ${postgresTimeout(e) ?? causeLine(e)}`,
          {
            cause: e,
            ...(postgresTimeout(e) || connectionLost(e)
              ? { hint: postgresConnectHint(e), details: { unavailable: true } }
              : {}),
          },
        );
  } finally {
    // ending the session also releases the advisory lock
    await client.end().catch(() => undefined);
  }
}

export async function postgresStatus(url: string): Promise<{ applied: string[]; pending: string[] }> {
  const all = migrationsOf("postgresql");
  const client = await connectPostgres(url);
  try {
    const { rows: has } = await client.query(
      `SELECT to_regclass('"_prisma_migrations"') IS NOT NULL AS present`,
    );
    const rows = has[0]?.present
      ? (await client.query<AppliedRow>(`SELECT * FROM "_prisma_migrations"`)).rows
      : [];
    const pending = pendingMigrations(all, rows).map((m) => m.name);
    return { applied: all.map((m) => m.name).filter((n) => !pending.includes(n)), pending };
  } catch (e) {
    // a statement timeout (a migrator holding its table), a terminated session: typed, with a hint
    throw toDbError(e, `check the migrations of ${redactUrl(url)}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}
