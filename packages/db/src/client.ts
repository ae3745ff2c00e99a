import { PrismaBetterSQLite3 } from "@prisma/adapter-better-sqlite3";
import { PrismaClient as SqliteClient, type Prisma as SqlitePrisma } from "./generated/sqlite/client";
import { PrismaClient as PostgresClient } from "./generated/postgres/client";
import type { Pool } from "pg";
import { guardPoolClients, loadPrismaPg } from "./drivers";
import { watchSqliteFile } from "./sqlite-file";
import { postgresOptions, providerOf, sqliteFilePath, SQLITE_BUSY_TIMEOUT_MS } from "./url";

type CrudOps =
  | "findUnique"
  | "findUniqueOrThrow"
  | "findFirst"
  | "findFirstOrThrow"
  | "findMany"
  | "create"
  | "createMany"
  | "createManyAndReturn"
  | "update"
  | "updateMany"
  | "updateManyAndReturn"
  | "upsert"
  | "delete"
  | "deleteMany"
  | "count";
type ModelKey = Uncapitalize<SqlitePrisma.ModelName>;

/**
 * The part of a Prisma client the repositories use. The generated SQLite and PostgreSQL clients
 * are not assignable to each other as a whole, but both satisfy this narrowed shape without casts.
 */
export type DbTx = { [K in ModelKey]: Pick<SqliteClient[K], CrudOps> };
export interface TransactionOptions {
  /** ms to wait for the transaction to start (SQLite: for another writer to finish) */
  maxWait?: number;
  /** ms the whole transaction may take */
  timeout?: number;
}
export type Db = DbTx &
  Pick<SqliteClient, "$connect" | "$disconnect"> & {
    $transaction<R>(fn: (tx: DbTx) => Promise<R>, options?: TransactionOptions): Promise<R>;
  };

type SqliteDriver = Awaited<ReturnType<PrismaBetterSQLite3["connect"]>>;
interface BetterSqliteHandle {
  pragma(sql: string): unknown;
  prepare(sql: string): unknown;
}

/**
 * The stock adapter opens interactive transactions with a deferred `BEGIN`. With two processes on
 * one WAL file, a deferred transaction that reads and then writes fails with SQLITE_BUSY at once
 * (a stale snapshot cannot be upgraded, so the busy handler is not used). `BEGIN IMMEDIATE` takes
 * the write lock up front and waits up to busy_timeout for it instead.
 */
class AttuneSqliteAdapter extends PrismaBetterSQLite3 {
  constructor(private readonly file: string) {
    // better-sqlite3 option `timeout` is its busy timeout; the pragma in connect() repeats it
    // so the value is visible and tested.
    super({ url: file, timeout: SQLITE_BUSY_TIMEOUT_MS });
  }

  override async connect(): Promise<SqliteDriver> {
    const driver = await super.connect();
    const handle = (driver as unknown as { client: BetterSqliteHandle }).client;
    handle.pragma("foreign_keys = ON");
    handle.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
    // as on the direct paths: a file deleted or replaced under this process fails every statement
    const watch = watchSqliteFile(this.file);
    const prepare = handle.prepare.bind(handle);
    handle.prepare = (sql: string) => {
      watch.check();
      return prepare(sql === "BEGIN" ? "BEGIN IMMEDIATE" : sql);
    };
    return driver;
  }
}

type PgDriver = Awaited<ReturnType<InstanceType<ReturnType<typeof loadPrismaPg>>["connect"]>>;
type PgTransaction = Awaited<ReturnType<PgDriver["startTransaction"]>>;

/**
 * Prisma hands an interactive transaction's connection back to the pool only after its COMMIT or
 * ROLLBACK succeeded. When the server ended the session (a restart, pg_terminate_backend), that
 * statement fails and the pool's connection would stay checked out for ever: the pool runs dry and
 * `$disconnect` never returns. So a failed COMMIT or ROLLBACK releases it here (the pool drops a
 * broken connection rather than reuse it).
 */
function releaseFailedEnds(driver: PgDriver): PgDriver {
  const start = driver.startTransaction.bind(driver);
  driver.startTransaction = async (isolationLevel) => {
    const tx: PgTransaction = await start(isolationLevel);
    const executeRaw = tx.executeRaw.bind(tx);
    tx.executeRaw = async (query) => {
      try {
        return await executeRaw(query);
      } catch (e) {
        if (query.sql === "COMMIT" || query.sql === "ROLLBACK") await tx.rollback().catch(() => undefined);
        throw e;
      }
    };
    return tx;
  };
  return driver;
}

/** A Prisma client for `url`; callers use `createClient` (open.ts), which loads this module lazily. */
export function createPrismaClient(url: string): Db {
  if (providerOf(url) === "postgresql") {
    const PrismaPg = loadPrismaPg();
    // the adapter makes its pool in connect() (it opens no connection yet): each connection the pool
    // opens gets a listener for its whole life (guardPoolClients), as the adapter adds its own to a
    // transaction's connection only after an `await`
    const adapter = new PrismaPg(postgresOptions(url));
    const connect = adapter.connect.bind(adapter);
    adapter.connect = async () => {
      const driver = await connect();
      const pool = (driver as unknown as { client?: Pool }).client;
      if (typeof pool?.on === "function") guardPoolClients(pool);
      return releaseFailedEnds(driver);
    };
    return new PostgresClient({ adapter });
  }
  return new SqliteClient({ adapter: new AttuneSqliteAdapter(sqliteFilePath(url)) });
}
