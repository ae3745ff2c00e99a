import { getEventListeners } from "node:events";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { pino } from "pino";
import { openInstaller } from "@attune/installer";
import { serveRoutes, tmpDir, type RouteServer } from "@attune/test-utils";
import request from "supertest";
import { createServer, startServer, tokenVerifierFromRepository } from "../src/index";
import { LOOPBACK_ENV, openTestApi } from "./support/api";
import { makePackDir, makeTarGz } from "./support/fixtures";
import { conform } from "./support/openapi";
import { createToken, spawnApi } from "./support/process";

let http: RouteServer;
let archive: Buffer;
const tmp = tmpDir("attune-api-listen-");
let release: () => void = () => undefined;

beforeAll(async () => {
  http = await serveRoutes();
  archive = makeTarGz(makePackDir(tmp.dir, "slowpack", "1.0.0"), path.join(tmp.dir, "slowpack.tgz"));
  // Sends half of the archive, then waits for the test to call release(): an install in flight.
  http.route("/slow/slowpack-1.0.0.tar.gz", async (_req, res) => {
    res.writeHead(200, { "content-type": "application/gzip", "content-length": archive.length });
    res.write(archive.subarray(0, archive.length >> 1));
    await new Promise<void>((r) => (release = r));
    res.end(archive.subarray(archive.length >> 1));
  });
});
afterAll(async () => {
  release();
  await http?.close();
  tmp.cleanup();
});

async function waitFor(cond: () => boolean | Promise<boolean>, what: string) {
  for (let i = 0; i < 1600; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const refused = async (url: string) => {
  try {
    await fetch(`${url}/healthz`);
    return false;
  } catch {
    return true;
  }
};

describe("startServer on a real port", () => {
  it("serves real HTTP, and close() stops listening", async () => {
    const api = await openTestApi();
    const running = await startServer({
      installer: api.installer,
      verifyToken: tokenVerifierFromRepository(api.repos.tokens),
      logger: pino({ level: "silent" }),
    });
    try {
      expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const health = await fetch(`${running.url}/healthz`);
      expect(health.status).toBe(200);
      const list = await fetch(`${running.url}/api/v1/packs`, { headers: api.auth() });
      expect(list.status).toBe(200);
      const body = await list.json();
      conform({
        status: 200,
        headers: { "content-type": list.headers.get("content-type")! },
        body,
        req: { method: "GET", path: "/api/v1/packs" },
      });
      const anon = await fetch(`${running.url}/api/v1/packs`);
      expect(anon.status).toBe(401);
      expect(anon.headers.get("www-authenticate")).toMatch(/^Bearer/);
    } finally {
      await running.close();
      await api.close();
    }
    expect(await refused(running.url)).toBe(true);
  });

  it("a request Node's parser refuses is answered as problem+json with a request id, then closed", async () => {
    const api = await openTestApi();
    const running = await startServer({
      installer: api.installer,
      verifyToken: tokenVerifierFromRepository(api.repos.tokens),
      logger: pino({ level: "silent" }),
    });
    const exchange = (raw: string) =>
      new Promise<string>((resolve, reject) => {
        let text = "";
        const socket = net.connect(running.port, "127.0.0.1", () => socket.write(raw));
        socket.setEncoding("utf8").on("data", (d: string) => (text += d));
        socket.on("error", reject);
        socket.on("end", () => resolve(text)); // the server closes after answering
      });
    try {
      for (const [raw, status, code, field] of [
        ["FOO /api/v1/packs HTTP/1.1\r\nHost: x\r\n\r\n", 400, "EINVALID_INPUT", "request"],
        ["GET api/v1/packs HTTP/1.1\r\nHost: x\r\n\r\n", 400, "EINVALID_INPUT", "request"],
        ["GET / HTTP/1.1\r\nHost: x\r\nX-Bad: a\u0001b\r\n\r\n", 400, "EINVALID_INPUT", "request"],
        [
          "POST /api/v1/packs/install HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
          400,
          "EINVALID_INPUT",
          "request",
        ],
        [
          `GET /api/v1/packs?q=${"a".repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
          431,
          "ETOO_LARGE",
          "headers",
        ],
      ] as const) {
        const text = await exchange(raw);
        const [head, body] = text.split("\r\n\r\n");
        expect({ raw: raw.slice(0, 40), status: /^HTTP\/1\.1 (\d+) /.exec(head)?.[1] }).toEqual({
          raw: raw.slice(0, 40),
          status: String(status),
        });
        expect(head).toMatch(/\r\nContent-Type: application\/problem\+json/i);
        expect(head).toMatch(/\r\nConnection: close/i);
        // the headers of every answer
        expect(head).toMatch(/\r\nCache-Control: no-store\r\n/i);
        expect(head).toMatch(/\r\nX-Content-Type-Options: nosniff\r\n/i);
        const id = /\r\nX-Request-Id: ([0-9a-f-]{36})/i.exec(head)?.[1];
        expect(id).toBeDefined();
        const problem = JSON.parse(body);
        expect(problem).toMatchObject({ status, code, request_id: id, errors: [{ field }] });
        expect(problem.type).toBe(`urn:attune:problem:${code.toLowerCase()}`);
      }
      // and the server goes on serving
      expect((await fetch(`${running.url}/healthz`)).status).toBe(200);
    } finally {
      await running.close();
      await api.close();
    }
  });
});

describe("slow clients", () => {
  it("keeps the documented 20 s / 60 s, checked every second (Node's default check is every 30 s)", async () => {
    const api = await openTestApi();
    const running = await startServer({
      installer: api.installer,
      verifyToken: tokenVerifierFromRepository(api.repos.tokens),
      logger: pino({ level: "silent" }),
    });
    try {
      const server = running.server as typeof running.server & { connectionsCheckingInterval?: number };
      expect([server.headersTimeout, server.requestTimeout]).toEqual([20_000, 60_000]);
      expect(server.connectionsCheckingInterval).toBeLessThanOrEqual(1_000);
    } finally {
      await running.close();
      await api.close();
    }
  });

  it("cuts off headers that never end, and a body that stalls, on time: 408 as problem+json", async () => {
    const api = await openTestApi();
    const running = await startServer(
      {
        installer: api.installer,
        verifyToken: tokenVerifierFromRepository(api.repos.tokens),
        logger: pino({ level: "silent" }),
      },
      { headersTimeoutMs: 300, requestTimeoutMs: 700 },
    );
    const stall = (raw: string) =>
      new Promise<{ text: string; ms: number }>((resolve, reject) => {
        const started = Date.now();
        let text = "";
        const socket = net.connect(running.port, "127.0.0.1", () => socket.write(raw));
        socket.setEncoding("utf8").on("data", (d: string) => (text += d));
        socket.on("error", reject);
        socket.on("end", () => resolve({ text, ms: Date.now() - started }));
      });
    try {
      const [headers, body] = await Promise.all([
        stall("GET /healthz HTTP/1.1\r\nHost: x\r\n"),
        stall(
          `POST /api/v1/packs/install HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${api.tokens.all}\r\n` +
            'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"source":',
        ),
      ]);
      for (const [{ text, ms }, limit] of [
        [headers, 300],
        [body, 700],
      ] as const) {
        const [head, problem] = text.split("\r\n\r\n");
        expect(head).toMatch(/^HTTP\/1\.1 408 /);
        expect(JSON.parse(problem)).toMatchObject({
          code: "ETIMEOUT",
          detail:
            "the request was not received in time (headers within 0.3 s, the whole request within 0.7 s)",
        });
        // within the check interval (1 s) of the limit, not up to 30 s past it
        expect(ms).toBeGreaterThanOrEqual(limit - 50);
        expect(ms).toBeLessThan(limit + 1_500);
      }
    } finally {
      await running.close();
      await api.close();
    }
  });
});

describe("while draining", () => {
  it("healthz says shutting_down (503) and new API requests get 503 with Connection: close", async () => {
    const api = await openTestApi();
    try {
      // the lifecycle startServer hands to the app once close() has begun
      const app = createServer(
        {
          installer: api.installer,
          verifyToken: tokenVerifierFromRepository(api.repos.tokens),
          logger: pino({ level: "silent" }),
        },
        { signal: new AbortController().signal, draining: () => true },
      );
      const health = await request(app).get("/healthz");
      expect(health.status).toBe(503);
      expect(health.body).toEqual({ status: "shutting_down" });
      expect(health.headers.connection).toBe("close");
      conform(health);
      const ready = await request(app).get("/readyz");
      expect({ status: ready.status, body: ready.body, connection: ready.headers.connection }).toEqual({
        status: 503,
        body: { status: "shutting_down" },
        connection: "close",
      });
      const list = await request(app).get("/api/v1/packs").set(api.auth());
      expect(list.status).toBe(503);
      expect(list.body.code).toBe("ESHUTTING_DOWN");
      expect(list.headers.connection).toBe("close");
      conform(list);
    } finally {
      await api.close();
    }
  });
});

describe("the shutdown signal", () => {
  it("does not accumulate listeners across installs (one per in-flight install at most)", async () => {
    const roots = path.join(tmp.dir, "roots-signal");
    const api = await openTestApi({ localSourceRoots: [roots] });
    try {
      const shutdown = new AbortController();
      const app = createServer(
        {
          installer: api.installer,
          verifyToken: tokenVerifierFromRepository(api.repos.tokens),
          logger: pino({ level: "silent" }),
        },
        { signal: shutdown.signal, draining: () => false },
      );
      const dir = makePackDir(roots, "sigpack", "1.0.0");
      for (let i = 0; i < 12; i++) {
        const res = await request(app)
          .post("/api/v1/packs/install")
          .set(api.auth())
          .send({ source: dir, force: true });
        expect(res.status).toBe(i === 0 ? 201 : 200);
      }
      expect(getEventListeners(shutdown.signal, "abort")).toHaveLength(0);
    } finally {
      await api.close();
    }
  });
});

describe("graceful shutdown of the entry point (pnpm api)", () => {
  it("SIGTERM stops accepting, lets the in-flight install finish, then exits 0", async () => {
    const home = path.join(tmp.dir, "home-graceful");
    const { secret } = await createToken(home);
    const api = await spawnApi({ ATTUNE_HOME: home, ...LOOPBACK_ENV });
    const served = http.requests.length;
    const pending = fetch(`${api.url}/api/v1/packs/install`, {
      method: "POST",
      headers: { Authorization: `Bearer ${secret}`, "Content-Type": "application/json" },
      body: JSON.stringify({ source: `${http.url}/slow/slowpack-1.0.0.tar.gz` }),
    });
    await waitFor(() => http.requests.length > served, "the download to start");
    api.proc.kill("SIGTERM");
    await waitFor(() => refused(api.url), "the listener to close");
    expect(api.proc.exitCode).toBeNull(); // still finishing the install
    release();
    const res = await pending;
    expect(res.status).toBe(201);
    expect(await api.exited).toBe(0);
    expect(api.logs.map((l) => l.msg)).toEqual(expect.arrayContaining(["shutting down", "stopped"]));

    const installer = await openInstaller({ home, env: LOOPBACK_ENV });
    try {
      const { pack } = await installer.show("slowpack");
      expect(pack.version).toBe("1.0.0");
    } finally {
      await installer.close();
    }
  });

  it("past the drain timeout the install is aborted and rolled back; exit is still 0", async () => {
    const home = path.join(tmp.dir, "home-abort");
    const { secret } = await createToken(home);
    const api = await spawnApi({ ATTUNE_HOME: home, ATTUNE_API_DRAIN_TIMEOUT_MS: "300", ...LOOPBACK_ENV });
    const served = http.requests.length;
    const pending = fetch(`${api.url}/api/v1/packs/install`, {
      method: "POST",
      headers: { Authorization: `Bearer ${secret}`, "Content-Type": "application/json" },
      body: JSON.stringify({ source: `${http.url}/slow/slowpack-1.0.0.tar.gz` }),
    }).then(
      (r) => r.status,
      () => "connection closed",
    );
    await waitFor(() => http.requests.length > served, "the download to start");
    api.proc.kill("SIGTERM");
    expect(await api.exited).toBe(0);
    release();
    const outcome = await pending;
    expect(outcome).toBe(503); // ESHUTTING_DOWN: rolled back, retry elsewhere
    const installer = await openInstaller({ home, env: LOOPBACK_ENV });
    try {
      await expect(installer.show("slowpack")).rejects.toMatchObject({ code: "ENOTFOUND" });
    } finally {
      await installer.close();
    }
    const leftovers = fs.readdirSync(path.join(home, "packs")).filter((n) => n.startsWith("slowpack"));
    expect(leftovers).toEqual([]);
  });

  it("SIGTERM still stops it (exit 0) after the reader of its stdout has gone away", async () => {
    const home = path.join(tmp.dir, "home-epipe");
    const api = await spawnApi({ ATTUNE_HOME: home, ...LOOPBACK_ENV });
    // the log shipper dies: our end of the pipe closes, every later log line meets EPIPE
    api.proc.stdout!.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect((await fetch(`${api.url}/healthz`)).status).toBe(200); // still serving, logging nowhere
    api.proc.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      api.exited,
      new Promise((r) => (timer = setTimeout(() => r("still running 10 s after SIGTERM"), 10_000))),
    ]);
    clearTimeout(timer);
    if (code !== 0) api.proc.kill("SIGKILL");
    expect(code).toBe(0);
  });

  it("names every bad variable at once, the server's own and the libraries', one line each", async () => {
    const home = path.join(tmp.dir, "home-many-bad");
    const err = await spawnApi({
      ATTUNE_HOME: home,
      PORT: "eighty",
      ATTUNE_ALLOW_HTTP: "maybe",
      ATTUNE_MAX_PACK_FILES: "lots",
    }).then(
      () => null,
      (e: Error) => e.message,
    );
    expect(err).not.toBeNull();
    const lines = err!
      .replace(/^.*exited with 1 before listening: /s, "")
      .trimEnd()
      .split("\n");
    expect(lines).toEqual([
      expect.stringMatching(
        /^attune-api: cannot start: ECONFIG PORT must be a port number .*got "eighty" \(set PORT/,
      ),
      expect.stringMatching(
        /^attune-api: cannot start: ECONFIG ATTUNE_ALLOW_HTTP must be true or false, got "maybe" \(e\.g\. ATTUNE_ALLOW_HTTP=true/,
      ),
      expect.stringMatching(
        /^attune-api: cannot start: ECONFIG ATTUNE_MAX_PACK_FILES must be a positive whole number of files, got "lots" \(e\.g\. /,
      ),
    ]);
    // nothing was opened: no database, no packs directory
    expect(fs.existsSync(home)).toBe(false);
  });

  it("refuses to start with a bad PORT, naming it, the value and the fix", async () => {
    await expect(spawnApi({ ATTUNE_HOME: path.join(tmp.dir, "home-bad"), PORT: "eighty" })).rejects.toThrow(
      /exited with 1 before listening: attune-api: cannot start: ECONFIG PORT must be a port number from 0 to 65535, got "eighty" \(set PORT to a port number from 1 to 65535, or 0 to pick a free port; unset, it is 8080\)\n$/,
    );
  });

  it("a HOST it cannot bind, or a PORT in use, is ECONFIG naming the variable and the way on", async () => {
    const home = path.join(tmp.dir, "home-listen");
    // 203.0.113.7 (TEST-NET-3) is no address of this machine
    await expect(spawnApi({ ATTUNE_HOME: home, HOST: "203.0.113.7", PORT: "0" })).rejects.toThrow(
      /exited with 1 before listening: attune-api: cannot start: ECONFIG HOST "203\.0\.113\.7" is not an address of this machine \(EADDRNOTAVAIL\) \(set HOST to an address of this machine: /,
    );
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      await expect(spawnApi({ ATTUNE_HOME: home, PORT: String(port) })).rejects.toThrow(
        new RegExp(
          `exited with 1 before listening: attune-api: cannot start: ECONFIG PORT ${port} on 127\\.0\\.0\\.1 is already in use \\(stop the server that listens there, or set PORT to a free port \\(0 picks one\\)\\)\n$`,
        ),
      );
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });

  it("refuses to start with an ATTUNE_IO_THREADS the libraries would ignore, as the CLI does", async () => {
    await expect(
      spawnApi({ ATTUNE_HOME: path.join(tmp.dir, "home-bad"), ATTUNE_IO_THREADS: "off" }),
    ).rejects.toThrow(
      /exited with 1 before listening: attune-api: cannot start: ECONFIG ATTUNE_IO_THREADS must be 0 \(all file I\/O on the main thread\) or 1 \(the default: helper threads\), not "off" \(set ATTUNE_IO_THREADS=0 to turn the helper threads off, or unset it\)\n$/,
    );
  });
});
