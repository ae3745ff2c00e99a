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

export function loadPrismaPg(): typeof PrismaPgClass {
  return (prismaPg ??= (require("@prisma/adapter-pg") as { PrismaPg: typeof PrismaPgClass }).PrismaPg);
}
