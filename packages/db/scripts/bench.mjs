#!/usr/bin/env node
// Rough timings of the store (not a test): node scripts/bench.mjs [postgresql://admin-url]
// Uses the built dist/. With a PostgreSQL admin URL, also runs against a scratch database it drops.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { migrate, openDatabase, withTransaction } from "../dist/index.js";

const N = 500;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const time = async (fn) => {
  const t = performance.now();
  await fn();
  return performance.now() - t;
};

async function run(label, databaseUrl, home) {
  const first = await time(async () => (await openDatabase({ home, databaseUrl, migrate: true })).close());
  const again = [];
  for (let i = 0; i < 5; i++) again.push(await time(() => migrate(databaseUrl ?? `file:${home}/attune.db`)));
  const { db, close } = await openDatabase({ home, databaseUrl });
  const tx = await time(async () => {
    for (let i = 0; i < N; i++)
      await withTransaction(db, async (r) => {
        const { row } = await r.packs.upsert({
          ref: `bench-${i}`,
          label: "B",
          version: "1.0.0",
          meta: { i },
        });
        await r.installations.upsert({
          packId: row.id,
          sourceType: "git",
          checksum: `sha256:${"a".repeat(64)}`,
          installationMethod: "cli",
          storagePath: `/p/${i}`,
        });
        await r.events.append({ packRef: row.ref, action: "install", outcome: "success" });
      });
  });
  const { repositories } = await import("../dist/index.js");
  const repos = repositories(db);
  const pages = [];
  for (let i = 0; i < 5; i++)
    pages.push(await time(() => repos.installations.list({ page: 5, pageSize: 50 })));
  await close();
  console.log(
    `${label}: create+migrate ${first.toFixed(0)} ms; migrate when up to date ${median(again).toFixed(1)} ms; ` +
      `${N} install transactions ${tx.toFixed(0)} ms (${((tx / N) * 1000).toFixed(0)} us each); ` +
      `list page of 50/${N} ${median(pages).toFixed(1)} ms`,
  );
}

const home = fs.mkdtempSync(path.join(os.tmpdir(), "attune-db-bench-"));
try {
  await run("sqlite", undefined, home);
  const admin = process.argv[2];
  if (admin) {
    const name = `attune_bench_${Date.now()}`;
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    await c.query(`CREATE DATABASE "${name}"`);
    const u = new URL(admin);
    u.pathname = `/${name}`;
    try {
      await run("postgresql", u.toString(), home);
    } finally {
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    }
  }
} finally {
  fs.rmSync(home, { recursive: true, force: true });
}
