import { createHash } from "node:crypto";
import { AttuneError, ErrorCodes } from "@attune/pack-storage";
import { EMBEDDED_MIGRATIONS } from "../generated/migrations";
import type { Provider } from "../url";

export interface Migration {
  name: string;
  sql: string;
  /** what Prisma records: sha256 hex of the migration.sql bytes */
  checksum: string;
}

/** A row of Prisma's `_prisma_migrations` table (only the columns the plan needs). */
export interface AppliedRow {
  migration_name: string;
  checksum: string;
  finished_at: unknown;
  rolled_back_at: unknown;
}

/** The migrations this build carries, in the order Prisma applies them (folder name order). */
export function migrationsOf(provider: Provider): Migration[] {
  return EMBEDDED_MIGRATIONS[provider].map((m) => ({
    ...m,
    checksum: createHash("sha256").update(m.sql, "utf8").digest("hex"),
  }));
}

const HINT_RESOLVE =
  "inspect the database; after fixing it by hand, mark the migration with `prisma migrate resolve` (see docs/database.md)";

/**
 * The migrations still to apply. Refuses, like `prisma migrate deploy`, a database whose history
 * this build cannot vouch for: a failed migration, an edited migration, or one it does not know.
 */
export function pendingMigrations(all: Migration[], rows: AppliedRow[]): Migration[] {
  const live = rows.filter((r) => r.rolled_back_at === null || r.rolled_back_at === undefined);
  const byName = new Map(all.map((m) => [m.name, m]));
  for (const r of live) {
    if (r.finished_at === null || r.finished_at === undefined)
      throw new AttuneError(
        ErrorCodes.EDATABASE,
        `migration ${r.migration_name} started but did not finish`,
        {
          hint: HINT_RESOLVE,
          details: { migration: r.migration_name },
        },
      );
    const m = byName.get(r.migration_name);
    if (!m)
      throw new AttuneError(
        ErrorCodes.EDATABASE,
        `the database has migration ${r.migration_name}, which this version of attune does not know`,
        {
          hint: "the database was migrated by a newer attune: upgrade attune",
          details: { migration: r.migration_name },
        },
      );
    if (m.checksum !== r.checksum)
      throw new AttuneError(
        ErrorCodes.EDATABASE,
        `migration ${r.migration_name} was modified after it was applied (checksum ${r.checksum} in the database, ${m.checksum} in this build)`,
        {
          hint: "never edit an applied migration; add a new one instead",
          details: { migration: r.migration_name },
        },
      );
  }
  const applied = new Set(live.map((r) => r.migration_name));
  return all.filter((m) => !applied.has(m.name));
}

export function migrationFailed(m: Migration, cause: unknown): AttuneError {
  return new AttuneError(
    ErrorCodes.EDATABASE,
    `migration ${m.name} failed: ${(cause as Error)?.message ?? String(cause)}`,
    { cause, hint: "nothing of this migration was kept; fix the cause and run `attune db migrate` again" },
  );
}
