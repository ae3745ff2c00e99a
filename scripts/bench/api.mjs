#!/usr/bin/env node
// API benchmark (issue 7): `GET /api/v1/packs` (authenticated, first page of 20, 100 packs
// installed) on the embedded SQLite store and on PostgreSQL, driven by autocannon over loopback.
// Baseline in the same run: `GET /healthz` of the same process (no auth, no database), the HTTP
// stack's ceiling. Medians of >= 5 runs. Target: >= 3,000 req/s with p99 < 20 ms on SQLite.
// Then the event loop's responsiveness: GET /healthz latency while the same process installs the
// `many` pack (20,000 files) through the API, from a directory and from its .tar.gz (skip with
// --no-install-probe; --install-probe-only runs only that).
//   node scripts/bench/api.mjs [--db=sqlite,postgres] [--duration=5] [--connections=10] [--runs=N] [--json]
// PostgreSQL: TEST_DATABASE_URL (admin URL, default postgresql://postgres@127.0.0.1:5432/postgres);
// a database is created and dropped by the run. Skipped with a note when unreachable.
import autocannon from "autocannon";
import path from "node:path";
import {
  LOOPBACK_ENV,
  cliOk,
  createToken,
  importDist,
  makePack,
  requireBuilt,
  startApi,
  tempDir,
} from "./lib/product.mjs";
import { ensurePackCorpus } from "./lib/packs.mjs";
import { printTable } from "./lib/report.mjs";
import { machine, median, runsFromEnv } from "./lib/timing.mjs";

const opt = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const asJson = process.argv.includes("--json");
const runs = Math.max(5, Number(opt("runs") ?? runsFromEnv()));
const duration = Number(opt("duration") ?? 5);
const connections = Number(opt("connections") ?? 10);
const dbs = (opt("db") ?? "sqlite,postgres").split(",");
const log = (m) => (asJson ? process.stderr : process.stdout).write(`${m}\n`);
const PACKS = 100;

requireBuilt();
const { openInstaller } = await importDist("packages/installer");
const { createTestDatabase, postgresAvailable } = await importDist("packages/test-utils");

/** 100 small packs installed through the installer library (the API's own service). */
async function seed(home, databaseUrl, packsDir) {
  const src = path.join(home, "src");
  const installer = await openInstaller({ home, databaseUrl, packsDir, env: LOOPBACK_ENV });
  try {
    for (let i = 0; i < PACKS; i++) {
      const dir = makePack(src, `bench_pack_${String(i).padStart(3, "0")}`, "1.0.0");
      await installer.install({ source: dir, method: "cli" }, { identityId: null, name: "bench" });
    }
  } finally {
    await installer.close();
  }
}

const load = (url, token) =>
  autocannon({
    url,
    connections,
    duration,
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });

async function measure(db) {
  const work = tempDir("attune-bench-api-");
  const home = work.dir;
  let pg;
  try {
    const env = { ATTUNE_HOME: home, ...LOOPBACK_ENV };
    if (db === "postgres") {
      pg = await createTestDatabase("attune_bench");
      env.DATABASE_URL = pg.url;
      cliOk(["db", "migrate", "-o", "json"], { env });
    }
    await seed(home, env.DATABASE_URL, path.join(home, "packs"));
    const token = createToken(env, "packs:read").token;
    const api = await startApi(env);
    try {
      const list = `${api.url}/api/v1/packs?page=1&page_size=20`;
      const check = await (await fetch(list, { headers: { authorization: `Bearer ${token}` } })).json();
      if (check.pagination?.total_items !== PACKS)
        throw new Error(`expected ${PACKS} packs, got ${JSON.stringify(check.pagination)}`);
      await load(list, token); // warm-up
      const ours = [];
      const base = [];
      for (let i = 0; i < runs; i++) {
        ours.push(await load(list, token));
        base.push(await load(`${api.url}/healthz`));
      }
      const bad = ours.reduce((n, r) => n + r.non2xx + r.errors + r.timeouts, 0);
      const pick = (rs, f) => median(rs.map(f));
      return {
        db,
        rps: pick(ours, (r) => r.requests.average),
        p50: pick(ours, (r) => r.latency.p50),
        p99: pick(ours, (r) => r.latency.p99),
        baseRps: pick(base, (r) => r.requests.average),
        baseP99: pick(base, (r) => r.latency.p99),
        failedRequests: bad,
      };
    } finally {
      await api.stop();
    }
  } finally {
    await pg?.drop().catch(() => undefined);
    work.cleanup();
  }
}

/**
 * Responsiveness while the same process installs: extraction and copies use synchronous file
 * system calls in time slices, so the event loop must keep answering. One install of the `many`
 * pack (20,000 files) from a local directory or from its `.tar.gz` (`kind`) through
 * POST /api/v1/packs/install, while GET /healthz is requested back to back on another connection;
 * prints that latency's median, p99 and maximum.
 */
async function duringInstall(kind) {
  const many = ensurePackCorpus("many", { git: false, log });
  const work = tempDir("attune-bench-api-install-");
  try {
    const env = { ATTUNE_HOME: work.dir, ...LOOPBACK_ENV, ATTUNE_LOCAL_SOURCE_ROOTS: path.dirname(many.dir) };
    const token = createToken(env, "packs:install").token;
    const api = await startApi(env);
    try {
      const started = performance.now();
      let done = false;
      const install = fetch(`${api.url}/api/v1/packs/install`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ source: kind === "archive" ? many.archive : many.dir }),
      }).then(async (r) => {
        done = true;
        if (r.status !== 201) throw new Error(`install answered ${r.status}: ${await r.text()}`);
        return performance.now() - started;
      });
      const lat = [];
      while (!done) {
        const t = performance.now();
        const r = await fetch(`${api.url}/healthz`);
        await r.arrayBuffer();
        if (!done) lat.push(performance.now() - t);
      }
      const installMs = await install;
      lat.sort((a, b) => a - b);
      return {
        installMs,
        probes: lat.length,
        p50: lat[Math.floor(lat.length / 2)] ?? NaN,
        p99: lat[Math.floor(lat.length * 0.99)] ?? NaN,
        max: lat[lat.length - 1] ?? NaN,
      };
    } finally {
      await api.stop();
    }
  } finally {
    work.cleanup();
  }
}

const m = machine();
log(`machine: ${m.cpu}, ${m.cores} cores, Node ${m.node}, load average ${m.load}`);
log(
  `autocannon: ${connections} connections, ${duration} s per run, ${runs} runs, loopback; the generator shares the 2 cores`,
);
const results = [];
// --install-probe-only: just the responsiveness probes (quick A/B of the extraction and copy paths)
if (!process.argv.includes("--install-probe-only"))
  for (const db of dbs) {
    if (db === "postgres" && !(await postgresAvailable())) {
      log("postgres: server unreachable, skipped (set TEST_DATABASE_URL)");
      continue;
    }
    results.push(await measure(db));
  }
printTable(
  log,
  [
    "database",
    "GET /api/v1/packs req/s",
    "p50 ms",
    "p99 ms",
    "non-2xx/errors",
    "/healthz req/s",
    "list/healthz",
    "target (SQLite)",
  ],
  results.map((r) => [
    r.db,
    r.rps.toFixed(0),
    r.p50.toFixed(1),
    r.p99.toFixed(1),
    r.failedRequests,
    r.baseRps.toFixed(0),
    `${(r.rps / r.baseRps).toFixed(2)}x`,
    r.db === "sqlite" ? (r.rps >= 3000 && r.p99 < 20 ? "MET" : "MISSED") : "-",
  ]),
);
let responsiveness = null;
if (!process.argv.includes("--no-install-probe")) {
  responsiveness = {};
  for (const kind of ["directory", "archive"]) {
    const r = (responsiveness[kind] = await duringInstall(kind));
    log(
      `GET /healthz during an API install of the many pack from a ${kind === "archive" ? ".tar.gz" : "directory"} (${(r.installMs / 1000).toFixed(1)} s, ${r.probes} probes): ` +
        `p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, max ${r.max.toFixed(1)} ms`,
    );
  }
}
if (asJson)
  process.stdout.write(
    `${JSON.stringify({ machine: m, runs, duration, connections, results, responsiveness }, null, 2)}\n`,
  );
process.exit(results.some((r) => r.failedRequests > 0) ? 1 : 0);
