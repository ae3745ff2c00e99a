import { AttuneError, ErrorCodes } from "@attune/pack-storage";

/** What a driver adapter reports about a failure (`DriverAdapterError.cause`). */
interface AdapterCause {
  constraint?: { fields?: string[] };
  originalCode?: unknown;
  originalMessage?: unknown;
  kind?: unknown;
}

interface PrismaLikeError {
  code?: unknown;
  message?: unknown;
  name?: unknown;
  cause?: unknown;
  meta?: {
    modelName?: string;
    driverAdapterError?: { cause?: AdapterCause };
  };
}

/**
 * The driver adapter's account of `e`, whichever way Prisma passed it on: inside its own error
 * (`meta.driverAdapterError`, e.g. P2010, P1003), or as the bare `DriverAdapterError` when Prisma
 * has no code for it (a model query whose session the server terminated: 57P01).
 */
function adapterCause(e: unknown): AdapterCause | undefined {
  const err = (e ?? {}) as PrismaLikeError;
  const wrapped = err.meta?.driverAdapterError?.cause;
  if (wrapped) return wrapped;
  if (err.name === "DriverAdapterError" && typeof err.cause === "object" && err.cause !== null)
    return err.cause as AdapterCause;
  return undefined;
}

/** Fields named by a unique violation, unquoted (PostgreSQL reports them as `"field"`). */
function conflictFields(e: PrismaLikeError): string[] {
  const fields = adapterCause(e)?.constraint?.fields ?? [];
  return fields.map((f) => f.replace(/^"|"$/g, ""));
}

/**
 * The direct paths (better-sqlite3, pg) report the driver's own codes; fold the few that mean the
 * same as a Prisma code into one name so both paths give the same typed error.
 */
function driverCode(code: unknown): unknown {
  if (typeof code !== "string") return code;
  if (code === "SQLITE_CONSTRAINT_FOREIGNKEY" || code === "23503") return "FOREIGN_KEY";
  if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) return "BUSY";
  return code;
}

/**
 * Turn a Prisma/driver error into the product's typed error. Branches on Prisma's stable codes:
 * with driver adapters, P2002 is the only reliable sign of a unique violation (no meta.target).
 */
export function toDbError(e: unknown, action: string): AttuneError {
  if (e instanceof AttuneError) return e;
  const err = (e ?? {}) as PrismaLikeError;
  switch (driverCode(err.code)) {
    case "P2002": {
      const fields = conflictFields(err);
      const what = fields.length ? ` (${fields.join(", ")})` : "";
      return new AttuneError(
        ErrorCodes.ECONFLICT,
        `${action}: a row with the same unique value${what} already exists`,
        {
          cause: e,
          details: { fields },
        },
      );
    }
    case "P2025":
      return new AttuneError(ErrorCodes.ENOTFOUND, `${action}: no such row`, { cause: e });
    case "P2003":
    case "FOREIGN_KEY":
      return new AttuneError(ErrorCodes.ENOTFOUND, `${action}: a referenced row does not exist`, {
        cause: e,
      });
    case "P1008":
      // Prisma's code for a PostgreSQL socket that timed out as well: that is no busy writer
      if (adapterCause(e)?.kind === "SocketTimeout") break;
    // falls through
    case "P2028":
    case "BUSY":
      return new AttuneError(
        ErrorCodes.ELOCKED,
        `${action}: the database is busy (another writer holds it)`,
        {
          cause: e,
          hint: "retry; if it persists, look for a stuck attune process using the same database",
        },
      );
  }
  const late = postgresTimeout(e);
  if (late)
    return new AttuneError(ErrorCodes.EDATABASE, `${action}: ${late}`, {
      cause: e,
      hint: POSTGRES_TIMEOUT_HINT,
      details: { unavailable: true },
    });
  // PostgreSQL gone or refusing us at run time (dropped database, server stopped, password changed,
  // the session terminated): the API answers 503 with Retry-After, not 500
  if (PG_UNREACHABLE.has(postgresCode(e)) || connectionLost(e))
    return new AttuneError(ErrorCodes.EDATABASE, `${action}: cannot use the database (${causeLine(e)})`, {
      cause: e,
      hint: postgresConnectHint(e),
      details: { unavailable: true },
    });
  const problem = sqliteProblem(e);
  if (problem)
    return new AttuneError(ErrorCodes.EDATABASE, `${action}: ${problem.what}`, {
      cause: e,
      hint: problem.hint,
    });
  return new AttuneError(ErrorCodes.EDATABASE, `${action}: database error (${causeLine(e)})`, {
    cause: e,
    hint: schemaBehind(e)
      ? "run `attune db migrate` if the schema may be out of date; `--debug` shows the whole cause"
      : "`--debug` shows the whole cause",
  });
}

/** A table or column this build uses is missing: the schema may be older than the code. */
function schemaBehind(e: unknown): boolean {
  const codes = [postgresCode(e), String((e as PrismaLikeError | null)?.code ?? "")];
  // undefined_table, undefined_column, and Prisma's codes for them
  if (codes.some((c) => ["42P01", "42703", "P2021", "P2022"].includes(c))) return true;
  return /\bno such (table|column)\b/.test(causeText(e)); // SQLite
}

/**
 * The server's SQLSTATE or the socket's error code behind `e`, whichever way it came: the pg
 * driver's own error (`code`), or the driver adapter's (`originalCode`), inside Prisma's (P1003 and
 * the like) or bare. Prisma's query path (the API's tokens) reports a dropped database as P1003
 * with 3D000 there, a terminated session as a bare DriverAdapterError with 57P01; the direct
 * paths give 3D000 and 57P01 themselves.
 */
function postgresCode(e: unknown): string {
  const err = (e ?? {}) as PrismaLikeError;
  const cause = adapterCause(e);
  const original = cause?.originalCode;
  if (typeof original === "string" && original) return original;
  // a socket error the adapter folded into a kind of its own (it keeps no code)
  if (cause?.kind === "ConnectionClosed") return "ECONNRESET";
  if (cause?.kind === "SocketTimeout") return "ETIMEDOUT";
  return String(err.code || "");
}

/** SQLSTATEs and socket errors of a session that the server or the network ended under us. */
const PG_SESSION_ENDED = new Set([
  "57P01", // admin shutdown: pg_terminate_backend, a fast shutdown, DROP DATABASE ... WITH (FORCE)
  "57P02", // crash shutdown
  "08000",
  "08003",
  "08006",
  "ECONNRESET",
  "EPIPE",
  "P1017", // Prisma: "Server has closed the connection"
]);

/**
 * True when `e` says the connection broke under a statement (the server terminated the session,
 * restarted or failed over, or the network dropped it), in any shape the pg driver or Prisma
 * gives it: a SQLSTATE, a socket error, or the driver's own words, which carry no code.
 */
export function connectionLost(e: unknown): boolean {
  return PG_SESSION_ENDED.has(postgresCode(e)) || brokenPgClient(e);
}

/**
 * The pg driver's own error for a statement on a connection that broke (a plain Error without a
 * code, which Prisma passes on as it is).
 */
export function brokenPgClient(e: unknown): boolean {
  const message = String((e as Error | null)?.message ?? "");
  return /\b(Connection terminated unexpectedly|Client has encountered a connection error and is not queryable)\b/.test(
    message,
  );
}

/** SQLSTATEs and socket errors that mean the PostgreSQL database cannot be used at all. */
const PG_UNREACHABLE = new Set([
  ...PG_SESSION_ENDED,
  "3D000", // database does not exist
  "28000", // invalid authorization
  "28P01", // invalid password
  "57P03", // cannot connect now (starting up, shutting down)
  "08001", // connection exceptions (the others: PG_SESSION_ENDED)
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "P1001", // Prisma: "Can't reach database server" (refused, or a host name that does not resolve)
]);

const POSTGRES_TIMEOUT_HINT =
  "check that DATABASE_URL names a PostgreSQL server that is up and answering (not overloaded, not behind a firewall that drops packets, not another service on that port); if it is only slow, raise connect_timeout=<seconds> or query_timeout=<ms> in DATABASE_URL";

/**
 * When the pg driver gave up waiting for the server (the connect timeout or a statement's timeout,
 * url.ts), what happened in an operator's words; null for any other error.
 */
export function postgresTimeout(e: unknown): string | null {
  const messages = [e, (e as { cause?: unknown } | null)?.cause].map((x) =>
    String((x as Error | null | undefined)?.message ?? ""),
  );
  const text = `${causeText(e)}\n${messages.join("\n")}`;
  // the driver's words: Client.connect ("timeout expired", "Connection terminated due to connection
  // timeout"), Pool.connect ("timeout exceeded when trying to connect"), a statement ("Query read timeout")
  if (/Connection terminated due to connection timeout|timeout exceeded when trying to connect/.test(text))
    return CONNECT_LATE;
  if (messages.some((m) => m === "timeout expired")) return CONNECT_LATE;
  if (/Query read timeout/.test(text))
    return "the server did not answer a statement in time (query timeout: 30 s, or DATABASE_URL's query_timeout)";
  return null;
}
const CONNECT_LATE =
  "the server did not complete the connection in time (connect timeout: 10 s, or DATABASE_URL's connect_timeout)";

/** What to do about a failed connection, from the server's SQLSTATE or the socket's error. */
export function postgresConnectHint(e: unknown): string {
  if (postgresTimeout(e)) return POSTGRES_TIMEOUT_HINT;
  const code = postgresCode(e);
  if (code === "3D000") return "create that database (createdb), or fix the database name in DATABASE_URL";
  if (code === "28000" || code === "28P01")
    return "fix the user name or password in DATABASE_URL, or the server's pg_hba.conf";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "fix the host name in DATABASE_URL";
  if (code === "ECONNREFUSED") return "start the server, or fix the host and port in DATABASE_URL";
  // the URL worked a moment ago: nothing in it to fix
  if (connectionLost(e))
    return "the server ended the connection (a restart, a failover, or an administrator terminating sessions); retry, and check the server if it keeps happening";
  const message = String((e as Error | null)?.message ?? "");
  if (/does not support SSL/.test(message))
    return "the server does not accept TLS: enable ssl on the server, or drop sslmode from DATABASE_URL (sslmode=prefer does not fall back to a plain connection with this driver)";
  if (/certificate|unable to verify/i.test(message))
    return "the server's TLS certificate did not verify: give its CA with sslrootcert=<PEM file> (sslmode=verify-full), or use sslmode=require to encrypt without checking it";
  return "check DATABASE_URL and that the server is running and reachable";
}

/** Every code and message an error and its driver cause carry, for matching. */
function causeText(e: unknown): string {
  const err = (e ?? {}) as PrismaLikeError;
  const cause = adapterCause(e) ?? {};
  return [err.code, err.message, cause.originalCode, cause.originalMessage, cause.kind]
    .filter((x) => typeof x === "string")
    .join(" ");
}

/**
 * The gist of the cause's message for a one-line error: its last non-empty line (Prisma puts the
 * driver's own words last, after the call it was making), at most 200 characters.
 */
export function causeLine(e: unknown): string {
  const lines = String((e as Error | null)?.message ?? e)
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const last = lines.at(-1) ?? "unknown cause";
  return last.length > 200 ? `${last.slice(0, 200)}…` : last;
}

/**
 * What went wrong with an SQLite database file, in an operator's terms, with what to do: a full
 * disk or a permission problem is not a damaged database (moving the file away would lose it).
 * Null when the error says nothing about the file.
 */
export function sqliteProblem(e: unknown): { what: string; hint: string } | null {
  // SQLite's own codes and words only (case-sensitive): PostgreSQL's "permission denied for table"
  // or a file name in a Prisma message must not read as a problem with a database file
  const text = causeText(e);
  if (/\bSQLITE_FULL\b|database or disk is full/.test(text))
    return {
      what: "the disk holding the database is full",
      hint: "free space on that filesystem, then retry (the database itself is fine; nothing was changed)",
    };
  if (/\bSQLITE_READONLY\w*|attempt to write a readonly database/.test(text))
    return {
      what: "the database is read-only for this process",
      hint: "make the database file, its -wal and -shm files and their directory writable by this user (chmod/chown, chattr -i, a read-only mount)",
    };
  if (/\bSQLITE_(PERM|AUTH)\b|access permission denied/.test(text))
    return {
      what: "permission denied on the database",
      hint: "let this user read and write the database file and its directory",
    };
  if (/\bSQLITE_CANTOPEN\w*|unable to open database file/.test(text))
    return {
      what: "the database file cannot be opened",
      hint: "check that its directory exists, that this user may read and write there (not a read-only mount), and free space",
    };
  if (/\bSQLITE_(NOTADB|CORRUPT)\w*|file is not a database|database disk image is malformed/.test(text))
    return {
      what: "the file is not an SQLite database, or it is damaged",
      hint: "check that DATABASE_URL (the CLI: --database-url) names the right file; if a backup was just copied over it while a process had it open, stop every attune process and delete the -wal and -shm files next to it (they belong to the old content), then retry; a damaged file must be moved away (keep it for recovery), then run `attune db migrate`",
    };
  if (/\bSQLITE_IOERR\w*|disk I\/O error/.test(text))
    return {
      what: "a disk I/O error on the database",
      hint: "check free space and permissions of the filesystem holding the database, and the system log; the file is usually fine once that is mended",
    };
  return null;
}

export function notFound(what: string, key: string | number): AttuneError {
  return new AttuneError(ErrorCodes.ENOTFOUND, `${what} ${JSON.stringify(key)} not found`, {
    details: { [what]: key },
  });
}

export function invalid(field: string, message: string, hint?: string): AttuneError {
  return new AttuneError(ErrorCodes.EINVALID_INPUT, `${field}: ${message}`, {
    hint,
    details: { field },
  });
}

export function isPrismaError(e: unknown): boolean {
  const name = (e as { constructor?: { name?: string } } | null)?.constructor?.name ?? "";
  // a failure Prisma has no code for reaches the caller as the adapter's own error
  if (adapterCause(e) !== undefined) return true;
  return name.startsWith("PrismaClient") || /^P\d{4}$/.test(String((e as { code?: unknown } | null)?.code));
}

/** Run one database call, mapping its failure to a typed error. */
export async function guard<T>(action: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw toDbError(e, action);
  }
}
