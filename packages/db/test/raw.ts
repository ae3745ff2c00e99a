import Database from "better-sqlite3";
import pg from "pg";
import type { Provider } from "../src";

/** Run SQL outside Prisma and the repositories (to inspect or tamper with a database). */
export async function raw(
  provider: Provider,
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<Array<Record<string, unknown>>> {
  if (provider === "sqlite") {
    const db = new Database(url.slice("file:".length));
    try {
      const stmt = db.prepare(sql);
      return stmt.reader
        ? (stmt.all(...params) as Array<Record<string, unknown>>)
        : (stmt.run(...params), []);
    } catch (e) {
      // better-sqlite3's native addon may hold the SqliteError class of another test file's realm in
      // this Jest worker; such an error is no Error here and `rejects.toThrow` would not recognise it
      throw new Error(String((e as { message?: string }).message), { cause: e });
    } finally {
      db.close();
    }
  }
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows;
  } finally {
    await c.end();
  }
}
