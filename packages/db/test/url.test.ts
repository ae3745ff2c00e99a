import path from "node:path";
import { describe, expect, it } from "@jest/globals";
import { providerOf, redactUrl, resolveDatabaseUrl } from "../src";

describe("resolveDatabaseUrl", () => {
  it("defaults to <home>/attune.db as an absolute file: URL", () => {
    expect(resolveDatabaseUrl({ home: "/var/lib/attune" })).toBe("file:/var/lib/attune/attune.db");
    expect(resolveDatabaseUrl({ home: "rel", databaseUrl: "  " })).toBe(
      `file:${path.resolve("rel", "attune.db")}`,
    );
  });

  it("passes PostgreSQL and file: URLs through", () => {
    expect(resolveDatabaseUrl({ home: "/h", databaseUrl: "postgresql://u@db:5432/attune" })).toBe(
      "postgresql://u@db:5432/attune",
    );
    expect(resolveDatabaseUrl({ home: "/h", databaseUrl: "postgres://u@db/attune" })).toBe(
      "postgres://u@db/attune",
    );
    expect(resolveDatabaseUrl({ home: "/h", databaseUrl: "file:/data/a.db" })).toBe("file:/data/a.db");
  });

  it("rejects other schemes with ECONFIG naming DATABASE_URL, without leaking the password", () => {
    let err: { code?: string; message?: string; details?: unknown } = {};
    try {
      resolveDatabaseUrl({ home: "/h", databaseUrl: "mysql://root:hunter2@db/x" });
    } catch (e) {
      err = e as typeof err;
    }
    expect(err.code).toBe("ECONFIG");
    expect(err.details).toEqual({ field: "DATABASE_URL" });
    expect(err.message).not.toContain("hunter2");
  });

  it("refuses a PostgreSQL schema other than public (the driver would ignore it)", () => {
    expect(() =>
      resolveDatabaseUrl({ home: "/h", databaseUrl: "postgresql://u@h/db?schema=tenant1" }),
    ).toThrow(expect.objectContaining({ code: "ECONFIG" }));
    expect(resolveDatabaseUrl({ home: "/h", databaseUrl: "postgresql://u@h/db?schema=public" })).toContain(
      "schema=public",
    );
  });

  it("tells the providers apart and redacts passwords", () => {
    expect(providerOf("file:/x.db")).toBe("sqlite");
    expect(providerOf("postgresql://x/y")).toBe("postgresql");
    expect(redactUrl("postgresql://u:p%40ss@h:5432/db")).toBe("postgresql://u:***@h:5432/db");
    expect(redactUrl("postgresql://u@h/db")).toBe("postgresql://u@h/db");
  });
});
