import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, it } from "@jest/globals";
import { createTestDatabase, postgresAdminUrl, postgresAvailable, tmpDir } from "@attune/test-utils";
import { openDatabase, repositories, type Db, type Provider, type Repositories } from "../src";

/** Throws (failing the suite) when PostgreSQL is required (CI) but unreachable. */
export const POSTGRES = await postgresAvailable();
if (!POSTGRES)
  console.warn(
    `NOTE: PostgreSQL is unreachable at ${postgresAdminUrl()}: the PostgreSQL half of the @attune/db tests is SKIPPED ` +
      "(set TEST_DATABASE_URL, or ATTUNE_REQUIRE_POSTGRES=1 to make this a failure).",
  );

export const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export interface Scratch {
  url: string;
  home: string;
  cleanup(): Promise<void>;
}

/** A fresh, empty database of the provider (SQLite: a file in a temp home; PostgreSQL: its own database). */
export async function scratchDatabase(provider: Provider): Promise<Scratch> {
  const t = tmpDir("attune-db-test-");
  if (provider === "sqlite")
    return { url: `file:${path.join(t.dir, "attune.db")}`, home: t.dir, cleanup: async () => t.cleanup() };
  const pg = await createTestDatabase("attune_db_test");
  return {
    url: pg.url,
    home: t.dir,
    cleanup: async () => {
      t.cleanup();
      await pg.drop();
    },
  };
}

/** Run `fn` with a fresh scratch database, dropped afterwards. */
export async function withScratch<T>(provider: Provider, fn: (s: Scratch) => Promise<T>): Promise<T> {
  const s = await scratchDatabase(provider);
  try {
    return await fn(s);
  } finally {
    await s.cleanup();
  }
}

export interface ProviderContext {
  provider: Provider;
  url: string;
  db: Db;
  repos: Repositories;
}

export const PROVIDERS: Array<{ name: Provider; available: boolean }> = [
  { name: "sqlite", available: true },
  { name: "postgresql", available: POSTGRES },
];

/**
 * `describe.each` over both providers, each with its own migrated database for the block
 * (dropped afterwards). Tests in a block share it, so they use distinct refs/names.
 */
export function eachProvider(title: string, body: (ctx: ProviderContext) => void): void {
  describe.each(PROVIDERS)(`${title} [$name]`, ({ name, available }) => {
    if (!available) {
      it.skip("PostgreSQL unreachable: skipped (see the NOTE above)", () => undefined);
      return;
    }
    const ctx = { provider: name } as ProviderContext;
    let scratch: Scratch;
    let close: () => Promise<void>;
    beforeAll(async () => {
      scratch = await scratchDatabase(name);
      const opened = await openDatabase({ home: scratch.home, databaseUrl: scratch.url, migrate: true });
      close = opened.close;
      Object.assign(ctx, { url: opened.url, db: opened.db, repos: repositories(opened.db) });
    });
    afterAll(async () => {
      await close?.();
      await scratch?.cleanup();
    });
    body(ctx);
  });
}

export const SUM_A = `sha256:${"a".repeat(64)}`;
export const SUM_B = `sha256:${"b".repeat(64)}`;

let counter = 0;
/** A ref unique within the run. */
export function uniqueRef(prefix = "pack"): string {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** Assert that `p` rejects with an AttuneError of `code` (returns it for more checks). */
export async function rejectsWith(
  p: Promise<unknown>,
  code: string,
): Promise<{ code: string; message: string; details?: Record<string, unknown> }> {
  try {
    await p;
  } catch (e) {
    const err = e as { code?: string; message: string };
    if (err.code !== code)
      throw new Error(`expected ${code}, got ${String(err.code)}: ${err.message}`, { cause: e });
    return err as { code: string; message: string };
  }
  throw new Error(`expected a rejection with ${code}, but it resolved`);
}
