import path from "node:path";
import { AttuneError, ErrorCodes } from "@attune/pack-storage";

export type Provider = "sqlite" | "postgresql";

const POSTGRES = /^postgres(ql)?:\/\//i;

/** The provider a database URL selects; anything but file: or postgres(ql):// is ECONFIG. */
export function providerOf(url: string): Provider {
  if (POSTGRES.test(url)) return "postgresql";
  if (url.startsWith("file:")) return "sqlite";
  throw new AttuneError(
    ErrorCodes.ECONFIG,
    `unsupported database URL "${redactUrl(url)}": expected file:<path> (SQLite) or postgresql://…`,
    {
      hint: "set DATABASE_URL (or --database-url) to postgresql://user@host:5432/db, or unset it to use the embedded SQLite store",
      details: { field: "DATABASE_URL" },
    },
  );
}

/**
 * The database URL to use: `databaseUrl` when given (SQLite `file:` or PostgreSQL), otherwise the
 * embedded store `file:<home>/attune.db`.
 */
export function resolveDatabaseUrl(opts: { home: string; databaseUrl?: string }): string {
  const given = opts.databaseUrl?.trim();
  if (given) {
    if (providerOf(given) === "postgresql") rejectSchemaParam(given);
    return given;
  }
  return `file:${path.resolve(opts.home, "attune.db")}`;
}

/** The file path of a `file:` URL (the adapter takes the rest of the URL verbatim as a path). */
export function sqliteFilePath(url: string): string {
  const p = url.slice("file:".length);
  if (!p || p.includes("?") || p === ":memory:") {
    throw new AttuneError(ErrorCodes.ECONFIG, `unsupported SQLite URL "${url}"`, {
      hint: "use file:<path to a database file> without query parameters",
      details: { field: "DATABASE_URL" },
    });
  }
  return p;
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]+):[^@/]*@/, "//$1:***@");
  }
}

/** Prisma's `?schema=` is not honoured by the pg driver: refuse it rather than silently use "public". */
function rejectSchemaParam(url: string): void {
  let schema: string | null = null;
  try {
    schema = new URL(url).searchParams.get("schema");
  } catch {
    return; // pg reports malformed URLs when connecting
  }
  if (schema !== null && schema !== "public")
    throw new AttuneError(
      ErrorCodes.ECONFIG,
      `DATABASE_URL selects schema "${schema}", which is not supported`,
      {
        hint: "use a database of its own for attune (tables live in its public schema) and drop ?schema=",
        details: { field: "DATABASE_URL" },
      },
    );
}

/** busy_timeout of every SQLite connection: how long a writer waits for another process's write. */
export const SQLITE_BUSY_TIMEOUT_MS = 10_000;
