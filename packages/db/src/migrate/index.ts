import { providerOf, sqliteFilePath } from "../url";
import { migratePostgres, postgresStatus } from "./postgres";
import { migrateSqliteFile, sqliteStatus } from "./sqlite";

/**
 * Applies the committed migrations this build embeds, without the Prisma CLI, recording them in
 * `_prisma_migrations` exactly as `prisma migrate deploy` does (so `prisma migrate status` agrees).
 * Idempotent; refuses a database with failed, edited or unknown migrations.
 */
export async function migrate(url: string): Promise<{ applied: string[] }> {
  const applied =
    providerOf(url) === "postgresql" ? await migratePostgres(url) : migrateSqliteFile(sqliteFilePath(url));
  return { applied };
}

/** Which embedded migrations the database has and which it lacks. Changes nothing. */
export async function migrationStatus(url: string): Promise<{ applied: string[]; pending: string[] }> {
  return providerOf(url) === "postgresql" ? postgresStatus(url) : sqliteStatus(sqliteFilePath(url));
}

export { migrationsOf } from "./plan";
