// Prisma CLI only (loaded by prisma.postgres.config.ts, never by the runtime bundle).
import { randomUUID } from "node:crypto";
import pg from "pg";
import { PrismaPg } from "@prisma/adapter-pg";

// prisma/orm#27403: the schema engine's catalog queries return types adapter-pg cannot map
// ("name", "char", ...). Their values are already strings, so report them as text / text[].
const AS_TEXT: Record<number, number> = {
  18: 25,
  19: 25,
  22: 25,
  24: 25,
  30: 25,
  194: 25,
  2205: 25,
  1002: 1009,
  1003: 1009,
};

function nameAsText<T>(result: T): T {
  const fields = (result as { fields?: Array<{ dataTypeID: number }> } | undefined)?.fields;
  if (fields) for (const f of fields) f.dataTypeID = AS_TEXT[f.dataTypeID] ?? f.dataTypeID;
  return result;
}

export class NameAsTextClient extends pg.Client {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  override query(...args: any[]): any {
    const call = super.query as (...a: unknown[]) => unknown;
    const last = args[args.length - 1];
    if (typeof last === "function") {
      // pg.Pool#query uses the callback form
      args[args.length - 1] = (err: unknown, res: unknown) => last(err, nameAsText(res));
      return call.apply(this, args);
    }
    const r = call.apply(this, args) as { then?: unknown } | undefined;
    return r && typeof r.then === "function" ? (r as Promise<unknown>).then(nameAsText) : r;
  }
}

/** Discrete fields, not connectionString: pg lets connectionString override `database`, so the "shadow" would be the real DB. */
export function poolConfig(url: string): pg.PoolConfig {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : 5432,
    user: decodeURIComponent(u.username) || undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    database: decodeURIComponent(u.pathname.slice(1)) || undefined,
    Client: NameAsTextClient,
    allowExitOnIdle: true,
  };
}

type ShadowAdapter = Awaited<ReturnType<PrismaPg["connectToShadowDb"]>>;

/**
 * adapter-pg's executeScript splits a migration on every ";", which breaks dollar-quoted
 * function bodies (our enum-check triggers). Send the script whole instead: pg's simple-query
 * protocol runs several statements, as `psql -f` and the runtime migrator do.
 */
function wholeScripts<A extends ShadowAdapter>(adapter: A): A {
  const raw = adapter as unknown as {
    client: { query(sql: string): Promise<unknown> };
    onError(e: unknown): never;
  };
  adapter.executeScript = async (script: string) => {
    try {
      await raw.client.query(script);
    } catch (e) {
      raw.onError(e);
    }
  };
  return adapter;
}

/** Creates the shadow database itself and, on dispose, closes its pool before dropping it. */
export class PrismaPgMigrate extends PrismaPg {
  constructor(private readonly cfg: pg.PoolConfig) {
    super(cfg);
  }

  override async connect(): Promise<ShadowAdapter> {
    return wholeScripts(await super.connect());
  }

  override async connectToShadowDb(): Promise<ShadowAdapter> {
    const name = `prisma_shadow_${randomUUID().replace(/-/g, "")}`;
    const admin = async (sql: string) => {
      const c = new pg.Client({ ...this.cfg, Client: undefined } as pg.ClientConfig);
      c.on("error", () => undefined); // a broken connection fails the statement instead of the process
      await c.connect();
      try {
        await c.query(sql);
      } finally {
        await c.end();
      }
    };
    await admin(`CREATE DATABASE "${name}"`);
    const adapter = wholeScripts(await new PrismaPg({ ...this.cfg, database: name }).connect());
    const dispose = adapter.dispose.bind(adapter);
    adapter.dispose = async () => {
      await dispose();
      await admin(`DROP DATABASE IF EXISTS "${name}"`);
    };
    return adapter;
  }
}

export function migrateAdapter(url: string): PrismaPgMigrate {
  return new PrismaPgMigrate(poolConfig(url));
}

/** The wasm schema engine leaves a 10 s advisory-lock timer pending; don't let it hold the CLI open. */
export function unrefLongTimers(minMs = 5_000): void {
  const original = globalThis.setTimeout;
  const patched = ((fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const t = original(fn, ms, ...args);
    if ((ms ?? 0) >= minMs) t.unref();
    return t;
  }) as typeof setTimeout;
  globalThis.setTimeout = Object.assign(patched, original);
}
