import { AttuneError, ErrorCodes } from "@attune/pack-storage";
import type { Db } from "./client";
import { migrate, migrationStatus } from "./migrate";
import { providerOf, redactUrl, resolveDatabaseUrl, type Provider } from "./url";

export interface OpenedDatabase {
  db: Db;
  provider: Provider;
  url: string;
  close(): Promise<void>;
}

export interface PreparedDatabase {
  provider: Provider;
  url: string;
}

/**
 * Resolve the store's URL and make sure its schema is the one this build knows, without starting
 * Prisma. The embedded SQLite store is created and migrated on first use; a PostgreSQL database is
 * migrated only when `migrate: true` (normally by `attune db migrate`), and otherwise must already
 * be up to date, so an app never runs against a schema it does not know.
 */
export async function prepareDatabase(opts: {
  home: string;
  databaseUrl?: string;
  migrate?: boolean;
}): Promise<PreparedDatabase> {
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
  return { provider, url };
}

/**
 * A Prisma client for `url` (file:… → SQLite, postgres(ql)://… → PostgreSQL). Does not migrate.
 * The Prisma runtime and the generated clients are loaded here, on first use: loading them costs
 * ~0.1 s, which commands that only read through the direct paths (list, show, verify) never pay.
 */
export async function createClient(url: string): Promise<Db> {
  const { createPrismaClient } = await import("./client");
  return createPrismaClient(url);
}

/** A Prisma client over a database prepared by `prepareDatabase`. */
export async function connectDatabase(prepared: PreparedDatabase): Promise<OpenedDatabase> {
  const db = await createClient(prepared.url);
  return { db, provider: prepared.provider, url: prepared.url, close: () => db.$disconnect() };
}

/** `prepareDatabase`, then `connectDatabase`. */
export async function openDatabase(opts: {
  home: string;
  databaseUrl?: string;
  migrate?: boolean;
}): Promise<OpenedDatabase> {
  return connectDatabase(await prepareDatabase(opts));
}
