// Helpers shared by the product benchmarks (scripts/bench) and the stress scripts (scripts/stress):
// run the built CLI, start the built API, serve files and git on 127.0.0.1, make pack fixtures.
// Everything drives the product through its real surfaces (dist/ of the apps and libraries).
import { execFileSync, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const CLI = path.join(repoRoot, "apps/cli/dist/bin.js");
export const API_MAIN = path.join(repoRoot, "apps/api/dist/main.js");
const dist = (pkg) => pathToFileURL(path.join(repoRoot, pkg, "dist/index.js")).href;

/** Import a workspace package's built dist (e.g. "packages/installer"). */
export const importDist = (pkg) => import(dist(pkg));

/** Loopback outbound policy: the fixture servers here are plain http on 127.0.0.1. */
export const LOOPBACK_ENV = {
  ATTUNE_ALLOW_HTTP: "true",
  ATTUNE_ALLOWED_PRIVATE_HOSTS: "127.0.0.1,localhost",
};

/** A minimal environment for product processes: nothing from the caller's ATTUNE_* leaks in. */
export function baseEnv(extra = {}) {
  return { PATH: process.env.PATH, HOME: process.env.HOME, LANG: "C.UTF-8", NO_COLOR: "1", ...extra };
}

export function requireBuilt() {
  for (const f of [CLI, API_MAIN, path.join(repoRoot, "packages/installer/dist/index.js")])
    if (!fs.existsSync(f)) {
      process.stderr.write(`missing ${path.relative(repoRoot, f)}: run \`pnpm build\` first\n`);
      process.exit(2);
    }
}

/** Run the CLI to completion: { status, signal, stdout, stderr, ms, json }. Never throws on exit codes. */
export function cli(args, { env = {}, nodeArgs = [], cwd = repoRoot, timeoutMs = 600_000 } = {}) {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [...nodeArgs, CLI, ...args], {
    cwd,
    env: baseEnv(env),
    encoding: "utf8",
    maxBuffer: 256 << 20,
    timeout: timeoutMs,
  });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  let json;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    json = undefined;
  }
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, ms, json };
}

/** Run a command without blocking this process: { status, signal, stdout, stderr, ms }. */
export function runAsync(cmd, args, { env, cwd, timeoutMs = 600_000, killAfterMs } = {}) {
  return new Promise((resolve) => {
    const start = process.hrtime.bigint();
    const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => (stdout += String(c)));
    child.stderr.on("data", (c) => (stderr += String(c)));
    const kill = setTimeout(() => child.kill("SIGKILL"), killAfterMs ?? timeoutMs);
    child.on("close", (status, signal) => {
      clearTimeout(kill);
      resolve({ status, signal, stdout, stderr, ms: Number(process.hrtime.bigint() - start) / 1e6 });
    });
  });
}

/**
 * cli() without blocking this process, for runs that talk to servers living in this process
 * (a blocked event loop would starve them). `killAfterMs` SIGKILLs the child.
 */
export async function cliAsync(args, { env = {}, nodeArgs = [], cwd = repoRoot, ...rest } = {}) {
  const r = await runAsync(process.execPath, [...nodeArgs, CLI, ...args], {
    cwd,
    env: baseEnv(env),
    ...rest,
  });
  try {
    r.json = JSON.parse(r.stdout);
  } catch {
    r.json = undefined;
  }
  return r;
}

/** Same as cli() but throws with the CLI's stderr on a non-zero exit. */
export function cliOk(args, opts) {
  const r = cli(args, opts);
  if (r.status !== 0) throw new Error(`attune ${args.join(" ")} exited ${r.status}: ${r.stderr.trim()}`);
  return r;
}

/** A free TCP port on 127.0.0.1 (the API is then started on it and polled until healthy). */
async function freePort() {
  const srv = http.createServer();
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

/**
 * Start the built API (`pnpm api`) on a free loopback port and wait for `GET /healthz`.
 * Its request log (stdout, one JSON line per request at the default level) goes to /dev/null:
 * the server still formats and writes every line, as in production.
 */
export async function startApi(env) {
  const port = await freePort();
  // ATTUNE_BENCH_API_NODE_ARGS: extra node flags for the API process (e.g. --cpu-prof --cpu-prof-dir=DIR)
  const nodeArgs = (process.env.ATTUNE_BENCH_API_NODE_ARGS ?? "").split(" ").filter(Boolean);
  const proc = spawn(process.execPath, [...nodeArgs, API_MAIN], {
    env: baseEnv({ PORT: String(port), HOST: "127.0.0.1", ...env }),
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  proc.stderr.on("data", (c) => (err += String(c)));
  const exited = new Promise((r) => proc.once("exit", (code, signal) => r(code ?? signal)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null)
      throw new Error(`api exited before listening: ${err}`);
    if (Date.now() > deadline) throw new Error(`api did not answer /healthz in 120 s: ${err}`);
    try {
      if ((await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) })).ok) break;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  return {
    url,
    proc,
    stderr: () => err,
    alive: () => proc.exitCode === null && proc.signalCode === null,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 30_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** A token with all scopes in the store named by `env` (what an operator does with the CLI). */
export function createToken(env, scopes = "packs:read,packs:install,packs:delete") {
  const name = `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  return cliOk(["token", "create", "--name", name, "--scopes", scopes, "-o", "json"], { env }).json;
}

/**
 * JSON request to the API: { status, body, text, ms }. One fresh connection per request (no
 * keep-alive pool), so a socket the server closed while this process was busy is never reused.
 */
export function request(base, method, p, { token, body, headers = {}, raw, timeoutMs = 300_000 } = {}) {
  const start = performance.now();
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  const payload = raw ?? (body === undefined ? undefined : JSON.stringify(body));
  if (payload !== undefined) {
    h["content-type"] ??= "application/json";
    h["content-length"] = Buffer.byteLength(payload);
  }
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${base}${p}`,
      { method, headers: h, agent: false, timeout: timeoutMs },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode, body: json, text, ms: performance.now() - start });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on("error", reject); // a no-op once an answer (e.g. an early 413) has resolved the promise
    req.end(payload);
  });
}

/** Serve a directory's files over http on 127.0.0.1 (with an optional per-path override). */
export async function serveDir(dir, overrides = {}) {
  const server = http.createServer((req, res) => {
    const p = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    if (overrides[p]) return overrides[p](req, res);
    const file = path.join(dir, p);
    if (!file.startsWith(dir + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end("not found");
      return;
    }
    const type = file.endsWith(".json") ? "application/json" : "application/octet-stream";
    res.writeHead(200, { "content-type": type, "content-length": fs.statSync(file).size });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((r) => server.close(r)),
  };
}

/** A fresh temp directory (removed by the returned cleanup). */
export function tempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export function packYaml(ref, version, extra = "") {
  return `ref: ${ref}\nversion: ${version}\nlabel: ${ref}\ndescription: benchmark pack ${ref}\n${extra}`;
}

/** A small pack directory `<root>/<ref>-<version>-src`. */
export function makePack(root, ref, version, files = {}) {
  const dir = path.join(root, `${ref}-${version}-src`);
  fs.mkdirSync(path.join(dir, "actions"), { recursive: true });
  fs.writeFileSync(path.join(dir, "pack.yaml"), packYaml(ref, version));
  fs.writeFileSync(path.join(dir, "actions/hello.yaml"), "name: hello\nrunner: shell\n");
  fs.writeFileSync(path.join(dir, "actions/hello.sh"), `#!/bin/sh\necho ${ref} ${version}\n`, {
    mode: 0o755,
  });
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), content);
  }
  return dir;
}

/** A bare git repository `<root>/<name>.git` holding `srcDir` as one commit tagged `tag`. */
export function makeGitRepo(srcDir, root, name, tag) {
  const work = path.join(root, `${name}-work`);
  const bare = path.join(root, `${name}.git`);
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(bare, { recursive: true, force: true });
  fs.cpSync(srcDir, work, { recursive: true });
  const git = (...a) => execFileSync("git", a, { cwd: work, stdio: "ignore" });
  git("init", "-q", "-b", "main");
  git("add", "-A");
  git("-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-q", "-m", "pack");
  git("tag", tag);
  execFileSync("git", ["clone", "-q", "--bare", work, bare], { stdio: "ignore" });
  fs.rmSync(work, { recursive: true, force: true });
  return bare;
}

/** Every file under dir (relative paths, sorted); missing dir -> []. */
export function listTree(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .map((d) => path.relative(dir, path.join(d.parentPath ?? d.path, d.name)))
    .sort();
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
