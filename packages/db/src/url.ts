import path from "node:path";
import { AttuneError, ErrorCodes, redactUrl } from "@attune/pack-storage";

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
    if (providerOf(given) === "postgresql") {
      const u = parsePostgresUrl(given);
      rejectSchemaParam(u);
      checkTimeoutParams(u);
      checkSslMode(u);
    }
    return given;
  }
  return `file:${path.resolve(opts.home, "attune.db")}`;
}

/**
 * The file path of a `file:` URL (the adapter takes the rest of the URL verbatim as a path). Query
 * parameters (`file:x.db?mode=ro`, as other tools write them) are refused rather than becoming part
 * of a file name; a `?` that starts no `key=` (a directory named `q?x` in ATTUNE_HOME) is a path.
 */
export function sqliteFilePath(url: string): string {
  const p = url.slice("file:".length);
  if (!p || /\?[\w.-]+=/.test(p) || p === ":memory:") {
    throw new AttuneError(ErrorCodes.ECONFIG, `unsupported SQLite URL "${redactUrl(url)}"`, {
      hint: "use file:<path to a database file> without query parameters",
      details: { field: "DATABASE_URL" },
    });
  }
  return p;
}

/** The URL without its secrets, for messages (one implementation, in @attune/pack-storage). */
export { redactUrl };

/** A PostgreSQL URL that parses and names a host; else ECONFIG (the pg driver would throw a bare "Invalid URL"). */
function parsePostgresUrl(url: string): URL {
  const bad = (why: string) =>
    new AttuneError(ErrorCodes.ECONFIG, `DATABASE_URL "${redactUrl(url)}" ${why}`, {
      hint: "use postgresql://user[:password]@host[:port]/database (port 1-65535; percent-encode special characters in the password)",
      details: { field: "DATABASE_URL" },
    });
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw bad("is not a valid URL");
  }
  // a Unix socket is given as ?host=/run/postgresql with an empty host part
  if (u.hostname === "" && !u.searchParams.get("host")) throw bad("names no host");
  return u;
}

/**
 * `connect_timeout` (seconds) and `query_timeout` (milliseconds) must be whole numbers ≥ 0: the
 * driver would ignore anything else and wait with the default (or for ever) without a word.
 */
function checkTimeoutParams(u: URL): void {
  for (const [name, unit] of [
    ["connect_timeout", "seconds"],
    ["query_timeout", "milliseconds"],
  ] as const) {
    const value = u.searchParams.get(name);
    if (value !== null && !/^[0-9]{1,9}$/.test(value))
      throw new AttuneError(
        ErrorCodes.ECONFIG,
        `DATABASE_URL's ${name} must be a whole number of ${unit} (0 or more), not ${JSON.stringify(value)}`,
        {
          hint: `e.g. ?${name}=${name === "connect_timeout" ? "10" : "30000"}, or leave it out for the default`,
          details: { field: "DATABASE_URL" },
        },
      );
  }
}

/** Prisma's `?schema=` is not honoured by the pg driver: refuse it rather than silently use "public". */
function rejectSchemaParam(u: URL): void {
  const schema = u.searchParams.get("schema");
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

/** The sslmode values libpq defines that the driver implements ("allow" is not one of them). */
const SSL_MODES = ["disable", "prefer", "require", "verify-ca", "verify-full"];

/**
 * `sslmode` takes libpq's values and means what it means to libpq (see postgresOptions); anything
 * else, and verify-ca without the CA to verify against, is refused here (the driver would throw from
 * inside the connection, or take an unknown mode for verify-full).
 */
function checkSslMode(u: URL): void {
  const mode = u.searchParams.get("sslmode");
  if (mode === null) return;
  const bad = (message: string, hint: string) =>
    new AttuneError(ErrorCodes.ECONFIG, `DATABASE_URL's sslmode ${message}`, {
      hint,
      details: { field: "DATABASE_URL" },
    });
  if (!SSL_MODES.includes(mode))
    throw bad(
      `must be one of ${SSL_MODES.join(", ")}, not ${JSON.stringify(mode)}`,
      "e.g. ?sslmode=verify-full (TLS, certificate and host name checked), or leave it out for no TLS",
    );
  if (mode === "verify-ca" && !u.searchParams.get("sslrootcert"))
    throw bad(
      "verify-ca needs sslrootcert, the CA certificate to verify the server's against",
      "add &sslrootcert=<path of the CA's PEM file>, or use sslmode=verify-full",
    );
}

/** busy_timeout of every SQLite connection: how long a writer waits for another process's write. */
export const SQLITE_BUSY_TIMEOUT_MS = 10_000;

/**
 * How long a PostgreSQL server may take to accept a connection (TCP, TLS and authentication) before
 * the command or request fails with EDATABASE. A server that accepts TCP connections and never
 * answers (a hung server, a firewall that swallows packets, the wrong service on the port) must
 * not hang a command or an API request for ever. DATABASE_URL's `connect_timeout` (seconds, as
 * libpq reads it; 0 waits for ever) overrides it.
 */
export const POSTGRES_CONNECT_TIMEOUT_MS = 10_000;
/**
 * How long one statement may go unanswered by PostgreSQL (the client stops waiting; EDATABASE).
 * Every statement the product runs on its own is small; waiting for a lock has its own bound
 * (lock.ts), and migrations none. DATABASE_URL's `query_timeout` (milliseconds, as the pg driver
 * reads it) overrides it.
 */
export const POSTGRES_QUERY_TIMEOUT_MS = 30_000;

/**
 * The pg connection options for `url`: the timeouts above (or the URL's own), and TCP keep-alive
 * so a connection whose peer vanished is noticed. `queryTimeout: false`: no statement timeout.
 */
export function postgresOptions(
  url: string,
  opts: { queryTimeout?: boolean } = {},
): { connectionString: string; connectionTimeoutMillis: number; query_timeout?: number; keepAlive: true } {
  let params: URLSearchParams | null = null;
  let connectionString = url;
  try {
    const u = new URL(url);
    params = u.searchParams;
    // the driver reads query_timeout from the URL and prefers it to the option: without a
    // statement timeout means without the URL's too (migrations)
    if (opts.queryTimeout === false && params.has("query_timeout")) {
      params.delete("query_timeout");
      connectionString = u.toString();
    }
    // sslmode means what libpq (psql, and Prisma's migration engine) makes of it: `require`
    // encrypts without checking the certificate, `verify-full` checks it and the host name. The pg
    // driver's own reading (every mode but disable as verify-full) is on its way out, and it
    // printed a SECURITY WARNING on every command that said so
    if (params.has("sslmode") && !params.has("uselibpqcompat")) {
      params.set("uselibpqcompat", "true");
      connectionString = u.toString();
    }
  } catch {
    // the driver reports an unparsable URL itself (resolveDatabaseUrl checked it already)
  }
  const seconds = Number(params?.get("connect_timeout") ?? NaN);
  const connect = Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : POSTGRES_CONNECT_TIMEOUT_MS;
  return {
    connectionString,
    connectionTimeoutMillis: connect,
    // the driver reads `query_timeout` from the URL itself, and the URL's wins over this value
    ...(opts.queryTimeout === false ? {} : { query_timeout: POSTGRES_QUERY_TIMEOUT_MS }),
    keepAlive: true,
  };
}
