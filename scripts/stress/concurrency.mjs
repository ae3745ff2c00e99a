#!/usr/bin/env node
// Concurrency stress (issue 7) through the built API, on SQLite (one API process, the embedded
// store) and on PostgreSQL (two API processes sharing the database and the packs dir):
//   same ref   N parallel installs of one ref+version, every third with force: no 5xx; exactly one
//              201; the others 200 (force) or a clear 409 (ECONFLICT/ELOCKED with a detail); one
//              row, one directory, verify ok, one history success event per 200/201
//   other refs N parallel installs of different refs: all 201, all verify ok
// Exit 1 on any violation.  node scripts/stress/concurrency.mjs [--db=sqlite,postgres] [--parallel=20]
import fs from "node:fs";
import path from "node:path";
import {
  cliOk,
  createToken,
  importDist,
  makePack,
  request,
  requireBuilt,
  startApi,
  tempDir,
} from "../bench/lib/product.mjs";
import { printTable } from "../bench/lib/report.mjs";

const opt = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const dbs = (opt("db") ?? "sqlite,postgres").split(",");
const parallel = Number(opt("parallel") ?? 20);

requireBuilt();
const { createTestDatabase, postgresAvailable } = await importDist("packages/test-utils");

async function sameRef(apis, token, src, packsDir) {
  const problems = [];
  const dir = makePack(src, "conc_same", "1.0.0", { "data/blob.txt": "x".repeat(200_000) });
  const res = await Promise.all(
    Array.from({ length: parallel }, (_, i) =>
      request(apis[i % apis.length].url, "POST", "/api/v1/packs/install", {
        token,
        body: { source: dir, force: i % 3 === 0 },
      }),
    ),
  );
  const count = (s) => res.filter((r) => r.status === s).length;
  for (const [i, r] of res.entries()) {
    const forced = i % 3 === 0;
    if (r.status >= 500) problems.push(`request ${i}: ${r.status} ${r.text.slice(0, 200)}`);
    else if (r.status === 409) {
      if (forced && r.body?.code !== "ELOCKED") problems.push(`forced request ${i} got 409 ${r.body?.code}`);
      if (!["ECONFLICT", "ELOCKED"].includes(r.body?.code) || !r.body?.detail)
        problems.push(`request ${i}: unclear 409 ${r.text.slice(0, 200)}`);
    } else if (![200, 201].includes(r.status))
      problems.push(`request ${i}: unexpected ${r.status} ${r.text.slice(0, 200)}`);
    else if (r.status === 200 && !forced) problems.push(`non-forced request ${i} replaced the pack (200)`);
  }
  if (count(201) !== 1) problems.push(`${count(201)} responses were 201 (exactly one must create the pack)`);
  const base = apis[0].url;
  const shown = await request(base, "GET", "/api/v1/packs/conc_same", { token });
  if (shown.body?.data?.version !== "1.0.0") problems.push(`final pack: ${shown.text.slice(0, 200)}`);
  const verify = await request(base, "POST", "/api/v1/packs/conc_same/verify", { token });
  if (verify.body?.data?.ok !== true) problems.push(`final verify: ${verify.text.slice(0, 300)}`);
  const history = (await request(base, "GET", "/api/v1/packs/conc_same/history", { token })).body?.data ?? [];
  const successes = history.filter((e) => e.outcome === "success" && e.action !== "verify").length;
  if (successes !== count(200) + count(201))
    problems.push(
      `history has ${successes} successful installs for ${count(200) + count(201)} 200/201 responses`,
    );
  const onDisk = fs.readdirSync(packsDir).filter((n) => n.startsWith("conc_same"));
  if (onDisk.length !== 1) problems.push(`on disk: [${onDisk.join(", ")}]`);
  return {
    scenario: `${parallel} x same ref (1/3 force)`,
    statuses: { 201: count(201), 200: count(200), 409: count(409) },
    res,
    problems,
  };
}

async function otherRefs(apis, token, src) {
  const problems = [];
  const dirs = Array.from({ length: parallel }, (_, i) => makePack(src, `conc_ref_${i}`, "1.0.0"));
  const res = await Promise.all(
    dirs.map((source, i) =>
      request(apis[i % apis.length].url, "POST", "/api/v1/packs/install", { token, body: { source } }),
    ),
  );
  for (const [i, r] of res.entries())
    if (r.status !== 201) problems.push(`conc_ref_${i}: ${r.status} ${r.text.slice(0, 200)}`);
  for (let i = 0; i < parallel; i++) {
    const v = await request(apis[0].url, "POST", `/api/v1/packs/conc_ref_${i}/verify`, { token });
    if (v.body?.data?.ok !== true) problems.push(`conc_ref_${i} verify: ${v.text.slice(0, 200)}`);
  }
  const list = await request(apis[0].url, "GET", "/api/v1/packs?page_size=100", { token });
  if (list.body?.pagination?.total_items !== parallel + 1)
    problems.push(`list total ${list.body?.pagination?.total_items}`);
  return {
    scenario: `${parallel} x different refs`,
    statuses: { 201: res.filter((r) => r.status === 201).length },
    res,
    problems,
  };
}

async function run(db) {
  const work = tempDir("attune-stress-conc-");
  const src = path.join(work.dir, "src");
  fs.mkdirSync(src);
  const env = { ATTUNE_HOME: path.join(work.dir, "home"), ATTUNE_LOCAL_SOURCE_ROOTS: src };
  let pg;
  const apis = [];
  try {
    if (db === "postgres") {
      pg = await createTestDatabase("attune_stress");
      env.DATABASE_URL = pg.url;
      cliOk(["db", "migrate", "-o", "json"], { env });
    }
    const token = createToken(env).token;
    for (let i = 0; i < (db === "postgres" ? 2 : 1); i++) apis.push(await startApi(env));
    const out = [
      await sameRef(apis, token, src, path.join(env.ATTUNE_HOME, "packs")),
      await otherRefs(apis, token, src),
    ];
    for (const a of apis) if (!a.alive()) out[1].problems.push(`API process died: ${a.stderr().slice(-300)}`);
    return out.map((o) => ({ db: `${db} (${apis.length} API process${apis.length > 1 ? "es" : ""})`, ...o }));
  } finally {
    for (const a of apis) await a.stop();
    await pg?.drop().catch(() => undefined);
    work.cleanup();
  }
}

const rows = [];
for (const db of dbs) {
  if (db === "postgres" && !(await postgresAvailable())) {
    process.stdout.write("postgres: unreachable, skipped (set TEST_DATABASE_URL)\n");
    continue;
  }
  rows.push(...(await run(db)));
}
let violations = 0;
for (const r of rows)
  for (const p of r.problems) {
    violations++;
    process.stdout.write(`VIOLATION ${r.db} ${r.scenario}: ${p}\n`);
  }
printTable(
  (m) => process.stdout.write(`${m}\n`),
  ["database", "scenario", "responses", "5xx", "result"],
  rows.map((r) => [
    r.db,
    r.scenario,
    Object.entries(r.statuses)
      .map(([s, n]) => `${n} x ${s}`)
      .join(", "),
    r.res.filter((x) => x.status >= 500).length,
    r.problems.length ? `FAIL (${r.problems.length})` : "PASS",
  ]),
);
process.stdout.write(`${violations ? "FAIL" : "PASS"}: ${violations} violation(s)\n`);
process.exit(violations ? 1 : 0);
