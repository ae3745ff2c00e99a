import { createRequire } from "node:module";
import type pgModule from "pg";
import type { PrismaPg as PrismaPgClass } from "@prisma/adapter-pg";

/**
 * The PostgreSQL driver and Prisma adapter, loaded on first use. Most runs use the embedded SQLite
 * store and never need them; importing them eagerly cost every CLI command ~0.1 s of start-up.
 * `require` (not `import()`) keeps the callers synchronous; both packages ship CommonJS.
 */
const require = createRequire(import.meta.url);

let pg: typeof pgModule | undefined;
let prismaPg: typeof PrismaPgClass | undefined;

export function loadPg(): typeof pgModule {
  return (pg ??= require("pg") as typeof pgModule);
}

/**
 * Keep a pool's connections from ever crashing the process: every connection it opens gets an
 * 'error' listener for its whole life, and the pool one for its idle ones. pg-pool takes its own
 * listener off a connection it hands out, and the caller's comes a few microtasks later (after its
 * `await`): a server that ends the session (a restart, a failover, pg_terminate_backend) in that
 * gap made pg emit an 'error' nobody listened to. A broken connection still fails its next query,
 * which is what the caller sees (and the pool drops it).
 */
export function guardPoolClients(pool: pgModule.Pool): pgModule.Pool {
  pool.on("error", () => undefined);
  pool.on("connect", (client) => void client.on("error", () => undefined));
  return pool;
}

export function loadPrismaPg(): typeof PrismaPgClass {
  return (prismaPg ??= (require("@prisma/adapter-pg") as { PrismaPg: typeof PrismaPgClass }).PrismaPg);
}
