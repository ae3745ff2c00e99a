// Prisma CLI config for the PostgreSQL provider (development tool; the runtime migrates without it).
import { defineConfig } from "prisma/config";
import { migrateAdapter, unrefLongTimers } from "./src/cli/pg-migrate";

unrefLongTimers();

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  schema: "../../prisma/postgres",
  migrations: { path: "../../prisma/postgres/migrations" },
  async adapter() {
    return migrateAdapter(process.env.DATABASE_URL ?? "postgresql://localhost:5432/unset");
  },
});
