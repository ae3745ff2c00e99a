// Prisma CLI config for the SQLite provider (development tool; the runtime migrates without it).
import { defineConfig } from "prisma/config";
import { PrismaBetterSQLite3Migrate } from "./src/cli/sqlite-migrate";

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  schema: "../../prisma/sqlite",
  migrations: { path: "../../prisma/sqlite/migrations" },
  async adapter() {
    // Every command but `generate` opens (and creates) this file: use file::memory: for diffs.
    return new PrismaBetterSQLite3Migrate({ url: process.env.SQLITE_URL ?? "file:./dev.db" });
  },
});
