import { randomBytes } from "node:crypto";
import pg from "pg";

/** The admin URL of the PostgreSQL server used by tests (a database the tests may CREATE DATABASE from). */
export function postgresAdminUrl(): string {
  return process.env.TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
}

/** True when PostgreSQL tests must run (CI, or ATTUNE_REQUIRE_POSTGRES=1): an unreachable server is then a failure. */
export function postgresRequired(): boolean {
  return process.env.ATTUNE_REQUIRE_POSTGRES === "1" || process.env.CI === "true";
}

export async function postgresAvailable(): Promise<boolean> {
  const c = new pg.Client({ connectionString: postgresAdminUrl(), connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.query("select 1");
    return true;
  } catch (e) {
    if (postgresRequired())
      throw new Error(
        `PostgreSQL is required for this run but unreachable at ${postgresAdminUrl()}: ${String(e)}`,
      );
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Create a uniquely named database; returns its URL and a drop() that removes it (terminating connections). */
export async function createTestDatabase(
  prefix = "attune_test",
): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`;
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: postgresAdminUrl() });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE DATABASE "${name}"`);
  const u = new URL(postgresAdminUrl());
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    name,
    drop: () => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
  };
}
