// Prisma CLI only (loaded by prisma.sqlite.config.ts, never by the runtime bundle).
import { PrismaBetterSQLite3 } from "@prisma/adapter-better-sqlite3";

type ShadowAdapter = Awaited<ReturnType<PrismaBetterSQLite3["connectToShadowDb"]>>;
type SqlQuery = Parameters<ShadowAdapter["executeRaw"]>[0];

/**
 * `migrate diff --from-migrations` replays each whole migration.sql into the shadow database in
 * ONE executeRaw, but better-sqlite3's prepare() accepts one statement (P3006 without this):
 * multi-statement scripts without parameters go through exec() instead.
 */
export class PrismaBetterSQLite3Migrate extends PrismaBetterSQLite3 {
  override async connectToShadowDb(): Promise<ShadowAdapter> {
    const adapter = await super.connectToShadowDb();
    const db = (adapter as unknown as { client: { exec(sql: string): unknown } }).client;
    const executeRaw = adapter.executeRaw.bind(adapter);
    adapter.executeRaw = async (q: SqlQuery) => {
      if (q.args.length === 0 && /;\s*\S/.test(q.sql)) {
        db.exec(q.sql);
        return 0;
      }
      return executeRaw(q);
    };
    return adapter;
  }
}
