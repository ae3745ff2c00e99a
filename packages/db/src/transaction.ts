import type { Db, TransactionOptions } from "./client";
import { brokenPgClient, isPrismaError, toDbError } from "./errors";
import { repositories, type Repositories } from "./repos";

/** Generous defaults: on SQLite a transaction may first wait for another process's writer. */
const DEFAULTS: Required<TransactionOptions> = { maxWait: 15_000, timeout: 30_000 };

/**
 * Runs `fn` with repositories bound to one transaction: everything it wrote commits together, or
 * (if it throws) nothing is kept. The installer writes pack + installation + event this way.
 */
export async function withTransaction<T>(
  db: Db,
  fn: (repos: Repositories) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  try {
    return await db.$transaction((tx) => fn(repositories(tx)), { ...DEFAULTS, ...options });
  } catch (e) {
    // the caller's own errors pass through untouched; only Prisma's (and the driver's, which Prisma
    // passes on as they are: a COMMIT on a connection the server ended) are translated
    throw isPrismaError(e) || brokenPgClient(e) ? toDbError(e, "transaction") : e;
  }
}
