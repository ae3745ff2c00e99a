import { AttuneError, ErrorCodes } from "@attune/pack-storage";
import { createClient, type Db } from "./client";
import { migrate, migrationStatus } from "./migrate";
import { providerOf, redactUrl, resolveDatabaseUrl, type Provider } from "./url";

export interface OpenedDatabase {
  db: Db;
  provider: Provider;
  url: string;
  close(): Promise<void>;
}

/**
 * Opens the store. The embedded SQLite store is created and migrated on first use; a PostgreSQL
 * database is migrated only when `migrate: true` (normally by `attune db migrate`), and otherwise
 * must already be up to date, so an app never runs against a schema it does not know.
 */
export async function openDatabase(opts: {
  home: string;
  databaseUrl?: string;
  migrate?: boolean;
}): Promise<OpenedDatabase> {
  const url = resolveDatabaseUrl(opts);
  const provider = providerOf(url);
  if (opts.migrate ?? provider === "sqlite") {
    await migrate(url);
  } else {
    const { pending } = await migrationStatus(url);
    if (pending.length > 0)
      throw new AttuneError(
        ErrorCodes.EDATABASE,
        `the database at ${redactUrl(url)} is not migrated (pending: ${pending.join(", ")})`,
        {
          hint: "run `attune db migrate` (or `pnpm db:migrate`) with the same DATABASE_URL",
          details: { pending },
        },
      );
  }
  const db = createClient(url);
  return { db, provider, url, close: () => db.$disconnect() };
}
