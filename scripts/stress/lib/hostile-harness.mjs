// Harness of the hostile-input stress: run one case on the CLI or the API and judge it.
// A case passes when it is refused (non-zero exit with one `attune: E…` line and no stack trace,
// or a 4xx problem+json with a code and a detail that names no server path), nothing changed
// outside the product's scratch dirs, nothing was left in them, and the API still answers /healthz.
import fs from "node:fs";
import path from "node:path";
import { cliAsync, request } from "../../bench/lib/product.mjs";

const SCRATCH = [".staging", ".journal", ".trash", ".locks", ".store-v1", ".attempts"];
// where the archives' escape attempts would land if extraction let them out
const SENTINELS = [
  "/etc/attune-evil.txt",
  "/tmp/evil.txt",
  "/tmp/pax-evil.txt",
  "/evil.txt",
  "/tmp/attune-evil",
];

/** Every path under `root` with its size, except the store's own changing files. */
function snapshot(root) {
  const out = new Map();
  const walk = (dir) => {
    for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, d.name);
      if (/^attune\.db/.test(d.name) || SCRATCH.includes(d.name) || d.name === "cache") continue;
      const st = fs.lstatSync(p);
      out.set(path.relative(root, p), st.isFile() ? st.size : st.isDirectory() ? "dir" : "other");
      if (st.isDirectory()) walk(p);
    }
  };
  walk(root);
  return out;
}

function leftovers(homes) {
  const found = [];
  for (const home of homes) {
    const packs = path.join(home, "packs");
    if (!fs.existsSync(packs)) continue;
    for (const d of [".staging", ".journal", ".trash", ".store-v1", ".attempts"]) {
      const p = path.join(packs, d);
      // (the store's own files, such as its id, start with ".")
      if (fs.existsSync(p) && fs.readdirSync(p).filter((n) => !n.startsWith(".")).length)
        found.push(`${path.basename(home)}/packs/${d} not empty`);
    }
    for (const n of fs.readdirSync(packs))
      if (!n.startsWith(".")) found.push(`${path.basename(home)}/packs/${n} installed`);
  }
  return found;
}

export function createHarness({ root, homes, privatePaths }) {
  const results = [];
  const judge = (row, before) => {
    const after = snapshot(root);
    for (const [p, v] of after) if (before.get(p) !== v) row.problems.push(`wrote ${p}`);
    for (const [p] of before) if (!after.has(p)) row.problems.push(`removed ${p}`);
    for (const s of SENTINELS) if (fs.existsSync(s)) row.problems.push(`escaped to ${s}`);
    if (!row.expectOk) row.problems.push(...leftovers(homes));
    results.push(row);
    return row;
  };

  /** CLI case: `args` refused (or, with expectOk, accepted and then uninstalled by `cleanup`). */
  async function viaCli(group, name, args, { env, expectOk = false, cleanup } = {}) {
    const before = snapshot(root);
    const r = await cliAsync([...args, "-o", "json", "-q"], { env, cwd: root, timeoutMs: 300_000 });
    const code = /attune: (E[A-Z_]+)/.exec(r.stderr)?.[1];
    const row = { group, case: name, surface: "cli", expectOk, problems: [] };
    row.result = r.signal
      ? `killed ${r.signal}`
      : r.status === 0
        ? "exit 0"
        : `exit ${r.status} ${code ?? "(no code)"}`;
    if (expectOk) {
      if (r.status !== 0) row.problems.push(`control failed: ${r.stderr.trim().split("\n")[0]}`);
      await cleanup?.();
    } else {
      if (r.status === 0 || r.signal) row.problems.push("not refused");
      else if (!code) row.problems.push(`no error code in: ${r.stderr.slice(0, 200)}`);
      if (/\n\s+at .+:\d+:\d+/.test(r.stderr)) row.problems.push("stack trace printed");
      if (code === "EUNEXPECTED")
        row.problems.push(`EUNEXPECTED (a bug, not a refusal): ${r.stderr.trim().split("\n")[0]}`);
    }
    return judge(row, before);
  }

  /** API case: one request refused with a 4xx (or, with expectOk, a 2xx), then /healthz. */
  async function viaApi(
    group,
    name,
    api,
    method,
    p,
    { token, body, headers, raw, expectOk = false, cleanup } = {},
  ) {
    const before = snapshot(root);
    const row = { group, case: name, surface: "api", expectOk, problems: [] };
    let r;
    try {
      r = await request(api.url, method, p, { token, body, headers, raw });
    } catch (e) {
      row.result = `no response (${e.cause?.code ?? e.message})`;
      row.problems.push("request failed at the transport level");
      return judge(row, before);
    }
    row.result = `${r.status} ${r.body?.code ?? ""}`.trim();
    if (expectOk) {
      if (r.status >= 300) row.problems.push(`control failed: ${r.text.slice(0, 200)}`);
      await cleanup?.();
    } else {
      if (r.status < 400 || r.status >= 500) row.problems.push(`status ${r.status}`);
      if (!r.body?.code || !r.body?.detail)
        row.problems.push(`no problem code/detail: ${r.text.slice(0, 200)}`);
      for (const pp of privatePaths)
        if (r.text.includes(pp)) row.problems.push("server path leaked in the response");
    }
    const health = await request(api.url, "GET", "/healthz").catch(() => ({ status: 0 }));
    if (health.status !== 200 || !api.alive())
      row.problems.push(`API unhealthy afterwards (${health.status})`);
    return judge(row, before);
  }

  return { viaCli, viaApi, results };
}
