#!/usr/bin/env node
// Throughput/latency of the API on this machine (not a test: speed is measured here, never asserted).
// Usage: pnpm --filter @attune/api... build && node apps/api/scripts/bench.mjs [--runs 5]
// Starts the real server in process on a temp SQLite store and reports medians of --runs runs.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { openDatabase, repositories } from "@attune/db";
import { openInstaller } from "@attune/installer";
import { startServer, tokenVerifierFromRepository } from "../dist/index.js";

const runs = Number(process.argv[process.argv.indexOf("--runs") + 1]) || 5;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function load(url, init, total, concurrency) {
  let next = 0;
  const lat = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < total) {
        const s = performance.now();
        const res = await fetch(url, init);
        await res.arrayBuffer();
        if (!res.ok) throw new Error(`${url}: ${res.status}`);
        lat.push(performance.now() - s);
      }
    }),
  );
  return {
    rps: total / ((performance.now() - t0) / 1000),
    p50: median(lat),
    p99: lat.sort((a, b) => a - b)[Math.floor(lat.length * 0.99)],
  };
}

const root = fs.mkdtempSync(path.join(os.tmpdir(), "attune-api-bench-"));
try {
  const home = path.join(root, "home");
  const src = path.join(root, "src");
  fs.mkdirSync(path.join(src, "actions"), { recursive: true });
  fs.writeFileSync(path.join(src, "pack.yaml"), "ref: bench\nversion: 1.0.0\nlabel: Bench\n");
  for (let i = 0; i < 50; i++)
    fs.writeFileSync(path.join(src, "actions", `a${i}.yaml`), `name: a${i}\n`.repeat(50));
  const tgz = path.join(root, "in", "bench.tgz");
  fs.mkdirSync(path.dirname(tgz));
  execFileSync("tar", ["-czf", tgz, "-C", src, "."]);

  const installer = await openInstaller({ home, localSourceRoots: [path.dirname(tgz)] });
  const database = await openDatabase({ home });
  const { secret } = await repositories(database.db).tokens.create({ name: "bench" });
  const running = await startServer({
    installer,
    verifyToken: tokenVerifierFromRepository(repositories(database.db).tokens),
    logger: pino({ level: "silent" }),
  });
  const auth = { Authorization: `Bearer ${secret}` };
  const installBody = (force) => ({
    method: "POST",
    headers: { ...auth, "Content-Type": "application/json" },
    body: JSON.stringify({ source: tgz, force }),
  });
  await fetch(`${running.url}/api/v1/packs/install`, installBody(false)).then((r) => r.arrayBuffer());

  // Baseline in the same run: a bare node:http server, so load on the machine cancels out in the ratio.
  const bare = http.createServer((_q, s) => s.end('{"status":"ok"}'));
  await new Promise((r) => bare.listen(0, "127.0.0.1", r));
  const bareUrl = `http://127.0.0.1:${bare.address().port}/`;

  const rows = { "bare node:http": [], healthz: [], list: [], install: [] };
  for (let r = 0; r < runs; r++) {
    rows["bare node:http"].push(await load(bareUrl, {}, 2000, 20));
    rows.healthz.push(await load(`${running.url}/healthz`, {}, 2000, 20));
    rows.list.push(await load(`${running.url}/api/v1/packs`, { headers: auth }, 500, 10));
    rows.install.push(await load(`${running.url}/api/v1/packs/install`, installBody(true), 10, 1));
  }
  console.log(`runs: ${runs}, node ${process.version}, ${os.cpus().length} cpus, SQLite store`);
  console.log(
    `load average at the end: ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(" ")}`,
  );
  for (const [name, rs] of Object.entries(rows)) {
    console.log(
      `${name.padEnd(15)} ${median(rs.map((x) => x.rps))
        .toFixed(0)
        .padStart(
          6,
        )} req/s  p50 ${median(rs.map((x) => x.p50)).toFixed(1)} ms  p99 ${median(rs.map((x) => x.p99)).toFixed(1)} ms`,
    );
  }
  const ratio = median(rows.healthz.map((x) => x.rps)) / median(rows["bare node:http"].map((x) => x.rps));
  console.log(`healthz / bare node:http throughput: ${(ratio * 100).toFixed(0)}%`);
  bare.close();
  await running.close();
  await installer.close();
  await database.close();
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
