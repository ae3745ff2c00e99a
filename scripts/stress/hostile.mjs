#!/usr/bin/env node
// Hostile-input stress (issue 7): the hostile-archive corpus (pack-registry's committed generator),
// malformed pack.yaml trees, malformed registry indexes, bad refs/versions, oversized and
// malformed bodies, bad tokens and SSRF targets, through the built CLI and the built API.
// Every case must be refused with a message (see lib/hostile-harness.mjs for the judgement);
// a few controls must succeed. Prints a table (group, case, surface, result, verdict); exit 1
// on any violation.   node scripts/stress/hostile.mjs [--surface=cli,api] [--group=archive,...]
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {
  LOOPBACK_ENV,
  cli,
  cliAsync,
  createToken,
  makePack,
  repoRoot,
  request,
  requireBuilt,
  serveDir,
  startApi,
  tempDir,
} from "../bench/lib/product.mjs";
import { fileChecksum, printTable } from "../bench/lib/report.mjs";
import { createHarness } from "./lib/hostile-harness.mjs";
import { makeBadIndexes, makeBadPacks } from "./lib/hostile-inputs.mjs";
import { apiOnlyCases, refCases, ssrfTargets } from "./lib/hostile-lists.mjs";

const opt = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const surfaces = (opt("surface") ?? "cli,api").split(",");
const groups = opt("group")?.split(",");
const want = (g) => !groups || groups.includes(g);

requireBuilt();
const work = tempDir("attune-stress-hostile-");
const inputs = path.join(work.dir, "inputs");
const corpusDir = path.join(inputs, "corpus");
fs.mkdirSync(corpusDir, { recursive: true });
execFileSync(
  process.execPath,
  [path.join(repoRoot, "packages/pack-registry/scripts/make-hostile-corpus.mjs"), corpusDir],
  { stdio: "ignore" },
);
const manifest = JSON.parse(fs.readFileSync(path.join(corpusDir, "manifest.json"), "utf8"));
const badPacks = makeBadPacks(path.join(inputs, "packs"));
const goodDir = makePack(path.join(inputs, "good"), "idx_pack", "1.0.0");
execFileSync("tar", ["-czf", path.join(inputs, "idx_pack.tar.gz"), "-C", goodDir, "."]);
const server = await serveDir(inputs, {
  "/redirect-metadata.tar.gz": (_q, res) =>
    res.writeHead(302, { location: "http://169.254.169.254/latest/p.tar.gz" }).end(),
  "/redirect-file.tar.gz": (_q, res) => res.writeHead(302, { location: "file:///etc/passwd" }).end(),
});
const indexes = makeBadIndexes(path.join(inputs, "indexes"), {
  serverUrl: server.url,
  good: { url: `${server.url}/idx_pack.tar.gz`, sum: fileChecksum(path.join(inputs, "idx_pack.tar.gz")) },
  other: { url: `${server.url}/corpus/ok.tar.gz`, sum: fileChecksum(path.join(corpusDir, "ok.tar.gz")) },
});

const cliHome = path.join(work.dir, "cli-home");
const strictHome = path.join(work.dir, "api-strict-home");
const loopHome = path.join(work.dir, "api-loopback-home");
const cliEnv = { ATTUNE_HOME: cliHome };
const cliLoop = { ...cliEnv, ...LOOPBACK_ENV };
const registries = indexes.map((x, i) => `r${i}=${x.url}`).join(",");
const strictEnv = { ATTUNE_HOME: strictHome, ATTUNE_LOCAL_SOURCE_ROOTS: inputs };
const loopEnv = {
  ATTUNE_HOME: loopHome,
  ATTUNE_LOCAL_SOURCE_ROOTS: inputs,
  ...LOOPBACK_ENV,
  ATTUNE_REGISTRIES: registries,
};
const tok = { strict: createToken(strictEnv).token, loop: createToken(loopEnv).token };
const readOnly = createToken(strictEnv, "packs:read").token;
const revoked = createToken(strictEnv);
cli(["token", "revoke", String(revoked.id), "-o", "json"], { env: strictEnv });
cli(["pack", "list", "-o", "json"], { env: cliEnv }); // creates the CLI's store before the first snapshot
const strict = await startApi(strictEnv); // default outbound policy: https only, no private hosts
const loop = await startApi(loopEnv); // loopback allowed, so archives and indexes can be served here
const h = createHarness({
  root: work.dir,
  homes: [cliHome, strictHome, loopHome],
  privatePaths: [strictHome, loopHome],
});
const cliUninstall = (ref) => () =>
  cliAsync(["pack", "uninstall", ref, "--yes", "-o", "json"], { env: cliEnv });
const apiUninstall = (api, token, ref) => () => request(api.url, "DELETE", `/api/v1/packs/${ref}`, { token });
const useCli = surfaces.includes("cli");
const useApi = surfaces.includes("api");

try {
  if (want("archive"))
    for (const c of manifest.cases) {
      const file = path.join(corpusDir, c.file);
      const name = `${c.name} (${c.file.slice(c.name.length + 1)})`;
      const ok = c.expect === null;
      if (useCli)
        await h.viaCli("archive", name, ["pack", "install", file], {
          env: cliEnv,
          expectOk: ok,
          cleanup: cliUninstall("corpus_pack"),
        });
      if (useCli)
        await h.viaCli("archive url", name, ["pack", "install", `${server.url}/corpus/${c.file}`], {
          env: cliLoop,
          expectOk: ok,
          cleanup: cliUninstall("corpus_pack"),
        });
      if (useApi)
        await h.viaApi("archive", name, strict, "POST", "/api/v1/packs/install", {
          token: tok.strict,
          body: { source: file },
          expectOk: ok,
          cleanup: apiUninstall(strict, tok.strict, "corpus_pack"),
        });
    }
  if (want("manifest"))
    for (const [name, dir] of Object.entries(badPacks)) {
      if (useCli) await h.viaCli("pack.yaml", name, ["pack", "install", dir], { env: cliEnv });
      if (useApi)
        await h.viaApi("pack.yaml", name, strict, "POST", "/api/v1/packs/install", {
          token: tok.strict,
          body: { source: dir },
        });
    }
  if (want("index"))
    for (const [i, x] of indexes.entries()) {
      const ok = x.name.includes("control");
      if (useCli)
        await h.viaCli("index", x.name, ["pack", "install", "idx_pack"], {
          env: { ...cliLoop, ATTUNE_REGISTRIES: `bad=${x.url}` },
          expectOk: ok,
          cleanup: cliUninstall("idx_pack"),
        });
      if (useApi)
        await h.viaApi("index", x.name, loop, "POST", "/api/v1/packs/install", {
          token: tok.loop,
          body: { source: "idx_pack", registry: `r${i}` },
          expectOk: ok,
          cleanup: apiUninstall(loop, tok.loop, "idx_pack"),
        });
    }
  if (want("ref")) {
    const c = refCases(server.url);
    if (useCli) for (const [name, args] of c.cli) await h.viaCli("ref/version", name, args, { env: cliLoop });
    if (useApi)
      for (const [name, method, p, body] of c.api)
        await h.viaApi("ref/version", name, loop, method, p, { token: tok.loop, body });
  }
  if (want("ssrf"))
    for (const [name, url, extra] of ssrfTargets(server.url)) {
      const strictCase = !name.includes("redirect");
      if (useCli)
        await h.viaCli("ssrf", name, ["pack", "install", url, ...(extra ?? [])], {
          env: strictCase ? cliEnv : cliLoop,
        });
      if (useApi)
        await h.viaApi("ssrf", name, strictCase ? strict : loop, "POST", "/api/v1/packs/install", {
          token: strictCase ? tok.strict : tok.loop,
          body: { source: url, ...(extra ? { ref_spec: extra[1] } : {}) },
        });
    }
  if (want("http") && useApi)
    for (const [name, method, p, o] of apiOnlyCases({ token: tok.strict, readOnly, revoked: revoked.token }))
      await h.viaApi(o.group, name, strict, method, p, o);
} finally {
  const alive = [strict.alive(), loop.alive()];
  await strict.stop();
  await loop.stop();
  await server.close();
  if (!alive.every(Boolean))
    h.results.push({
      group: "process",
      case: "API alive at the end",
      surface: "api",
      result: "died",
      problems: ["API process died"],
    });
  work.cleanup();
}

const rows = h.results;
printTable(
  (m) => process.stdout.write(`${m}\n`),
  ["group", "case", "surface", "result", "verdict"],
  rows.map((r) => [
    r.group,
    r.case,
    r.surface,
    r.result,
    r.problems.length
      ? `FAIL: ${r.problems.join("; ")}`
      : r.expectOk
        ? "PASS (control installed)"
        : "PASS (refused)",
  ]),
);
const failed = rows.filter((r) => r.problems.length).length;
process.stdout.write(`${failed ? "FAIL" : "PASS"}: ${rows.length} cases, ${failed} failed\n`);
process.exit(failed ? 1 : 0);
