import path from "node:path";
import { describe, expect, it } from "@jest/globals";
import { providerOf, redactUrl, resolveDatabaseUrl } from "../src";
import { sqliteFilePath } from "../src/url";

describe("sqliteFilePath", () => {
  it("takes the rest of the URL as the path, a ? in a directory name included", () => {
    expect(sqliteFilePath("file:/var/lib/attune/attune.db")).toBe("/var/lib/attune/attune.db");
    expect(sqliteFilePath(resolveDatabaseUrl({ home: "/tmp/q?x" }))).toBe("/tmp/q?x/attune.db");
    expect(sqliteFilePath("file:/tmp/why?/a.db")).toBe("/tmp/why?/a.db");
  });
  it.each(["file:a.db?mode=ro", "file:/x/a.db?connection_limit=1", "file:", "file::memory:"])(
    "refuses %s with ECONFIG naming DATABASE_URL",
    (url) => {
      expect(() => sqliteFilePath(url)).toThrow(
        expect.objectContaining({ code: "ECONFIG", details: { field: "DATABASE_URL" } }),
      );
    },
  );
});

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
    // libpq's query-parameter forms of a password are secrets too
    expect(redactUrl("postgresql://h:5432/db?user=u&password=QuerySecret")).toBe(
      "postgresql://h:5432/db?user=u&password=***",
    );
    expect(redactUrl("postgresql://h/db?sslpassword=k&sslmode=require")).toBe(
      "postgresql://h/db?sslpassword=***&sslmode=require",
    );
    // and a URL that does not parse keeps its shape, secrets hidden
    expect(redactUrl("postgresql://u:pw@h:abc/x?password=zz")).toBe(
      "postgresql://u:***@h:abc/x?password=***",
    );
  });

  it.each([
    ["postgresql://u:secret@127.0.0.1:abc/x", "is not a valid URL"],
    ["postgresql://u:secret@127.0.0.1:99999/x", "is not a valid URL"],
    ["postgresql://:5432/x", "is not a valid URL"],
    ["postgresql:///x", "names no host"],
  ])("refuses the malformed PostgreSQL URL %s with ECONFIG, password hidden", (url, why) => {
    let err: { code?: string; message?: string; details?: unknown } = {};
    try {
      resolveDatabaseUrl({ home: "/h", databaseUrl: url });
    } catch (e) {
      err = e as typeof err;
    }
    expect(err).toMatchObject({ code: "ECONFIG", details: { field: "DATABASE_URL" } });
    expect(err.message).toContain(why);
    expect(err.message).not.toContain("secret");
  });

  it("accepts a Unix-socket URL (empty host, ?host=)", () => {
    expect(resolveDatabaseUrl({ home: "/h", databaseUrl: "postgresql:///db?host=/run/postgresql" })).toBe(
      "postgresql:///db?host=/run/postgresql",
    );
  });
});
