// DATABASE_URL's sslmode means what it means to libpq (psql, Prisma's migration engine): the pg
// driver's own reading (every mode but disable as verify-full) printed a SECURITY WARNING on every
// command (apps/cli's tokens-db test checks a whole command's stderr for it). Values the driver
// cannot honour are refused before any connection.
import { describe, expect, it } from "@jest/globals";
import { postgresAdminUrl } from "@attune/test-utils";
import { connectPostgres } from "../src/migrate/postgres";
import { postgresOptions, resolveDatabaseUrl } from "../src/url";
import { POSTGRES, rejectsWith } from "./helpers";

/** The admin URL with `sslmode` (and more) added. */
function withParams(params: string): string {
  const u = new URL(postgresAdminUrl());
  for (const [k, v] of new URLSearchParams(params)) u.searchParams.set(k, v);
  return u.toString();
}

describe("sslmode", () => {
  it("is read with libpq's meaning (uselibpqcompat), unless the URL says otherwise", () => {
    const opts = postgresOptions("postgresql://u@h/db?sslmode=require&connect_timeout=5");
    const params = new URL(opts.connectionString).searchParams;
    expect(params.get("uselibpqcompat")).toBe("true");
    expect(params.get("sslmode")).toBe("require");
    expect(params.get("connect_timeout")).toBe("5");
    expect(
      new URL(
        postgresOptions("postgresql://u@h/db?sslmode=require&uselibpqcompat=false").connectionString,
      ).searchParams.get("uselibpqcompat"),
    ).toBe("false");
    // no sslmode: the URL is passed on untouched
    expect(postgresOptions("postgresql://u@h/db").connectionString).toBe("postgresql://u@h/db");
  });

  it("refuses a mode libpq does not define or the driver cannot honour, and verify-ca without its CA", () => {
    for (const [query, message] of [
      [
        "sslmode=true",
        /^DATABASE_URL's sslmode must be one of disable, prefer, require, verify-ca, verify-full, not "true"$/,
      ],
      ["sslmode=allow", /must be one of/],
      ["sslmode=verify-ca", /^DATABASE_URL's sslmode verify-ca needs sslrootcert/],
    ] as const) {
      expect(() => resolveDatabaseUrl({ home: "/h", databaseUrl: `postgresql://u@h/db?${query}` })).toThrow(
        expect.objectContaining({ code: "ECONFIG", message: expect.stringMatching(message) }),
      );
    }
    for (const mode of ["disable", "prefer", "require", "verify-full"])
      expect(
        resolveDatabaseUrl({ home: "/h", databaseUrl: `postgresql://u@h/db?sslmode=${mode}` }),
      ).toContain(`sslmode=${mode}`);
    expect(
      resolveDatabaseUrl({
        home: "/h",
        databaseUrl: "postgresql://u@h/db?sslmode=verify-ca&sslrootcert=/etc/ca.pem",
      }),
    ).toContain("verify-ca");
  });

  // the test server runs without TLS (as PostgreSQL does by default)
  (POSTGRES ? it : it.skip)(
    "sslmode=require against a server without TLS: EDATABASE saying so and what to do",
    async () => {
      const err = await rejectsWith(connectPostgres(withParams("sslmode=require")), "EDATABASE");
      expect(err.message).toMatch(/: The server does not support SSL connections$/);
      expect((err as { hint?: string }).hint).toBe(
        "the server does not accept TLS: enable ssl on the server, or drop sslmode from DATABASE_URL (sslmode=prefer does not fall back to a plain connection with this driver)",
      );
    },
  );

  (POSTGRES ? it : it.skip)("sslmode=disable connects without TLS", async () => {
    const client = await connectPostgres(withParams("sslmode=disable"));
    try {
      const { rows } = await client.query<{ ssl: boolean }>(
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
      );
      expect(rows).toEqual([{ ssl: false }]);
    } finally {
      await client.end();
    }
  });
});
