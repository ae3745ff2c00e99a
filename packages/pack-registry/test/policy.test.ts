import { execFileSync } from "node:child_process";
import fs from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { serveRoutes, tmpDir, type RouteServer } from "@attune/test-utils";
import { OutboundPolicy } from "../src/policy/outbound-policy";

async function codeOf(
  p: Promise<unknown> | (() => unknown),
): Promise<{ code?: string; details?: Record<string, unknown>; message: string; hint?: string }> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    return e as { code?: string; message: string };
  }
  throw new Error("expected a rejection");
}

describe("OutboundPolicy.checkUrl", () => {
  const strict = new OutboundPolicy();
  it("accepts a public https URL", () => {
    expect(strict.checkUrl("https://example.com/a.tgz").hostname).toBe("example.com");
  });
  it.each([
    ["http://example.com/x", "https-only"],
    ["ftp://example.com/x", "scheme"],
    ["file:///etc/passwd", "scheme"],
    ["https://user:tok@example.com/x", "credentials"],
    ["https://tok@example.com/x", "credentials"],
    ["https://127.0.0.1/x", "private-address"],
    ["https://localhost/x", "private-address"],
    ["https://foo.localhost/x", "private-address"],
    ["https://[::1]/x", "private-address"],
    ["https://[::ffff:127.0.0.1]/x", "private-address"],
    ["https://[::ffff:8.8.8.8]/x", "private-address"],
    ["https://10.1.2.3/x", "private-address"],
    ["https://169.254.169.254/latest/meta-data", "private-address"],
    ["https://100.64.0.1/x", "private-address"],
    ["https://192.168.1.1/x", "private-address"],
    ["https://[fd00::1]/x", "private-address"],
    ["https://[fe80::1]/x", "private-address"],
    ["https://0.0.0.0/x", "private-address"],
    ["https://2130706433/x", "private-address"],
    ["https://0x7f.1/x", "private-address"],
    ["https://localhost./x", "private-address"],
  ])("refuses %s (%s)", async (url, rule) => {
    const e = await codeOf(() => strict.checkUrl(url, "source"));
    expect(e.code).toBe("EPOLICY");
    expect(e.details).toMatchObject({ rule, field: "source" });
    expect(e.message).not.toContain("tok@");
  });
  it("rejects an unparsable URL as input error naming the field", async () => {
    const e = await codeOf(() => strict.checkUrl("not a url", "source"));
    expect(e.code).toBe("EINVALID_INPUT");
    expect(e.details).toMatchObject({ field: "source" });
  });
  it("refuses port 0 (node would connect to the scheme's default port instead), naming the field", async () => {
    const p = new OutboundPolicy({ allowHttp: true, allowedPrivateHosts: ["127.0.0.1"] });
    for (const url of ["http://127.0.0.1:0/x.tgz", "https://example.com:00/x.tgz"]) {
      const e = await codeOf(() => p.checkUrl(url, "source"));
      expect({ code: e.code, details: e.details }).toEqual({
        code: "EINVALID_INPUT",
        details: { field: "source" },
      });
      expect(e.message).toMatch(/^source: port 0 in ".*" is not a port$/);
    }
  });
  it("allows http and listed private hosts only when configured", () => {
    const p = new OutboundPolicy({ allowHttp: true, allowedPrivateHosts: ["127.0.0.1", "localhost"] });
    expect(p.checkUrl("http://127.0.0.1:8080/x").port).toBe("8080");
    expect(p.checkUrl("http://localhost/x").hostname).toBe("localhost");
    expect(() => p.checkUrl("http://10.0.0.1/x")).toThrow(/refused/);
  });
});

describe("OutboundPolicy.fromConfig", () => {
  it("reads the config file keys", () => {
    const p = OutboundPolicy.fromConfig({ allow_http: true, allowed_private_hosts: ["127.0.0.1"] }, {});
    expect(p.allowHttp).toBe(true);
    expect(p.isPrivateHostAllowed("127.0.0.1")).toBe(true);
  });
  it("lets the environment win over the file", () => {
    const p = OutboundPolicy.fromConfig(
      { allow_http: true, allowed_private_hosts: ["10.0.0.1"] },
      { ATTUNE_ALLOW_HTTP: "false", ATTUNE_ALLOWED_PRIVATE_HOSTS: "127.0.0.1, localhost" },
    );
    expect(p.allowHttp).toBe(false);
    expect(p.isPrivateHostAllowed("localhost")).toBe(true);
    expect(p.isPrivateHostAllowed("10.0.0.1")).toBe(false);
  });
  it("rejects a malformed boolean in the environment", async () => {
    const e = await codeOf(() => OutboundPolicy.fromConfig({}, { ATTUNE_ALLOW_HTTP: "maybe" }));
    expect(e.code).toBe("ECONFIG");
    expect(e.details).toMatchObject({ field: "ATTUNE_ALLOW_HTTP" });
    // the environment's spellings of a boolean are listed, as is the way back to the default
    expect(e.hint).toBe(
      "e.g. ATTUNE_ALLOW_HTTP=true (also 1, yes, on; false, 0, no, off), or unset it for the default (false)",
    );
    for (const yes of ["1", "YES", " on ", "True"])
      expect(OutboundPolicy.fromConfig({}, { ATTUNE_ALLOW_HTTP: yes }).allowHttp).toBe(true);
    for (const no of ["0", "no", "OFF", "false"])
      expect(OutboundPolicy.fromConfig({}, { ATTUNE_ALLOW_HTTP: no }).allowHttp).toBe(false);
  });
});

describe("allowed_private_hosts entries", () => {
  it.each([
    ["127.0.0.1:18401", "a host with a port"],
    ["[::1]:8080", "a host with a port"],
    ["127.0.0.0/8", "an address range"],
    ["fd00::/8", "an address range"],
    ["http://127.0.0.1", "a URL"],
    ["a b", "not a host name"],
  ])("refuses %j at load, naming the setting and the accepted form", async (entry, what) => {
    const env = (await codeOf(() =>
      OutboundPolicy.fromConfig({}, { ATTUNE_ALLOWED_PRIVATE_HOSTS: `localhost,${entry}` }),
    )) as { code?: string; message: string; hint?: string; details?: Record<string, unknown> };
    expect(env.code).toBe("ECONFIG");
    expect(env.message).toBe(
      `ATTUNE_ALLOWED_PRIVATE_HOSTS: "${entry}" is ${env.message.split(" is ").pop()}`,
    );
    expect(env.message).toContain(what);
    expect(env.hint).toMatch(/host names or IP addresses alone, without scheme, port or \/prefix/);
    const cfg = (await codeOf(() =>
      OutboundPolicy.fromConfig({ allowed_private_hosts: ["localhost", entry] }, {}),
    )) as { code?: string; message: string; details?: Record<string, unknown> };
    expect(cfg.code).toBe("ECONFIG");
    expect(cfg.message).toMatch(/^config\.yaml: allowed_private_hosts\[1\]: /);
    expect(cfg.details).toMatchObject({ field: "allowed_private_hosts[1]" });
  });
  it.each(["127.0.0.1", "::1", "[::1]", "localhost", "registry.internal", "Registry.Internal."])(
    "accepts %j",
    (entry) => {
      expect(() => OutboundPolicy.fromConfig({}, { ATTUNE_ALLOWED_PRIVATE_HOSTS: entry })).not.toThrow();
    },
  );
});

describe("DNS answers", () => {
  const resolver = async (host: string) => {
    if (host === "mixed.test")
      return [
        { address: "93.184.216.34", family: 4 },
        { address: "10.0.0.7", family: 4 },
      ];
    if (host === "rebind.test") return [{ address: "127.0.0.1", family: 4 }];
    if (host === "public.test") return [{ address: "93.184.216.34", family: 4 }];
    throw Object.assign(new Error("no such host"), { code: "ENOTFOUND" });
  };
  it("refuses an answer mixing public and private addresses", async () => {
    const p = new OutboundPolicy({ resolver });
    const e = await codeOf(p.resolve("mixed.test"));
    expect(e.code).toBe("EPOLICY");
    expect(e.message).toContain("10.0.0.7");
  });
  it("accepts an all-public answer and reports unresolvable hosts as EFETCH", async () => {
    const p = new OutboundPolicy({ resolver });
    await expect(p.resolve("public.test")).resolves.toHaveLength(1);
    expect((await codeOf(p.resolve("nope.test"))).code).toBe("EFETCH");
  });
});

describe("policy-checked requests (real server on 127.0.0.1)", () => {
  let srv: RouteServer;
  let other: RouteServer;
  const resolver = async (host: string) => {
    if (["rebind.test", "trusted.test", "localhost"].includes(host))
      return [{ address: "127.0.0.1", family: 4 }];
    throw new Error("unknown");
  };
  const policy = new OutboundPolicy({
    allowHttp: true,
    allowedPrivateHosts: ["127.0.0.1", "localhost", "trusted.test"],
    resolver,
  });

  beforeAll(async () => {
    srv = await serveRoutes();
    other = await serveRoutes();
    srv.file("/ok", "hello", "text/plain");
    srv.route("/big-declared", (_q, r) => {
      r.writeHead(200, { "content-length": "1000000" });
      r.end(Buffer.alloc(1000000));
    });
    srv.route("/big-chunked", (_q, r) => {
      r.writeHead(200);
      for (let i = 0; i < 20; i++) r.write(Buffer.alloc(1000));
      r.end();
    });
    srv.route("/truncated", (_q, r) => {
      r.writeHead(200, { "content-length": "1000" });
      r.write(Buffer.alloc(10));
      setTimeout(() => r.socket?.destroy(), 20);
    });
    srv.route("/silent", () => undefined);
    srv.route("/stalls-mid-body", (_q, r) => {
      r.writeHead(200, { "content-length": "1000" });
      r.write(Buffer.alloc(10)); // and nothing more: the client's idle timeout must say so
    });
    srv.route("/to-metadata", (_q, r) => {
      r.writeHead(302, { location: "http://169.254.169.254/latest/meta-data" });
      r.end();
    });
    srv.route("/loop", (_q, r) => {
      r.writeHead(302, { location: "/loop" });
      r.end();
    });
    srv.route("/to-other", (_q, r) => {
      r.writeHead(302, { location: `http://localhost:${other.port}/echo` });
      r.end();
    });
    srv.route("/to-same", (_q, r) => {
      r.writeHead(301, { location: "/ok" });
      r.end();
    });
    other.file("/echo", "moved");
  });
  afterAll(async () => {
    await srv.close();
    await other.close();
  });

  it("fetches a body and follows a same-origin redirect", async () => {
    expect((await policy.fetch(`${srv.url}/ok`)).body.toString()).toBe("hello");
    const r = await policy.fetch(`${srv.url}/to-same`);
    expect(r.url).toBe(`${srv.url}/ok`);
    expect(r.body.toString()).toBe("hello");
  });
  it("reports HTTP errors as EFETCH with the status", async () => {
    const e = await codeOf(policy.fetch(`${srv.url}/missing`));
    expect(e.code).toBe("EFETCH");
    expect(e.details).toMatchObject({ status: 404 });
  });
  it("refuses an oversized Content-Length before reading, and counts real bytes otherwise", async () => {
    expect((await codeOf(policy.fetch(`${srv.url}/big-declared`, { maxBytes: 5000 }))).code).toBe(
      "ETOO_LARGE",
    );
    expect((await codeOf(policy.fetch(`${srv.url}/big-chunked`, { maxBytes: 5000 }))).code).toBe(
      "ETOO_LARGE",
    );
    expect((await policy.fetch(`${srv.url}/big-chunked`, { maxBytes: 20000 })).body.length).toBe(20000);
  });
  it("names the policy's download cap, its value and the setting that raises it", async () => {
    const small = new OutboundPolicy({
      allowHttp: true,
      allowedPrivateHosts: ["127.0.0.1"],
      maxDownloadBytes: 5000,
    });
    for (const route of ["/big-declared", "/big-chunked"]) {
      const e = (await codeOf(small.fetch(`${srv.url}${route}`))) as {
        code?: string;
        message: string;
        hint?: string;
      };
      expect(e.code).toBe("ETOO_LARGE");
      expect(e.message).toContain(`${srv.url}${route}`);
      expect(e.message).toContain("5000-byte cap");
      expect(e.hint).toMatch(/raise ATTUNE_MAX_DOWNLOAD_BYTES \(max_download_bytes/);
    }
  });
  it("detects a truncated body and says so: got N of M bytes, and a hint", async () => {
    const e = (await codeOf(policy.fetch(`${srv.url}/truncated`))) as {
      code?: string;
      message: string;
      hint?: string;
    };
    expect(e.code).toBe("EFETCH");
    expect(e.message).toBe(
      `url: the download of ${srv.url}/truncated was truncated: the connection closed after 10 of 1000 bytes`,
    );
    expect(e.message).not.toMatch(/aborted/);
    expect(e.hint).toMatch(/retry.*check the server/);
  });
  it("times out on a silent server (total and idle), naming the URL, the time waited and a hint", async () => {
    const total = (await codeOf(policy.fetch(`${srv.url}/silent?token=s3cret`, { timeoutMs: 300 }))) as {
      code?: string;
      message: string;
      hint?: string;
    };
    expect(total.code).toBe("ETIMEOUT");
    expect(total.message).toBe(`url: ${srv.url}/silent?token=*** took longer than 300 ms`);
    expect(total.hint).toMatch(/server is up/);
    const idle = (await codeOf(policy.fetch(`${srv.url}/silent`, { idleTimeoutMs: 1500 }))) as {
      code?: string;
      message: string;
      hint?: string;
    };
    expect(idle.code).toBe("ETIMEOUT");
    expect(idle.message).toBe(`url: ${srv.url}/silent sent nothing for 1.5 s (idle timeout)`);
    expect(idle.hint).toMatch(/server is up.*then retry/);
  });
  it("times out (ETIMEOUT, not a failed fetch) on a server that stalls in the middle of the body", async () => {
    const e = (await codeOf(policy.fetch(`${srv.url}/stalls-mid-body`, { idleTimeoutMs: 300 }))) as {
      code?: string;
      message: string;
      hint?: string;
    };
    expect(e.code).toBe("ETIMEOUT");
    expect(e.message).toBe(`url: ${srv.url}/stalls-mid-body sent nothing for 300 ms (idle timeout)`);
    expect(e.hint).toMatch(/server is up/);
  });
  it("honours an AbortSignal", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const e = await codeOf(policy.fetch(`${srv.url}/silent`, { signal: ac.signal }));
    expect(e.code).toBe("EFETCH");
    expect(e.details).toMatchObject({ aborted: true });
  });
  it("re-checks every redirect hop against the policy", async () => {
    const e = await codeOf(policy.fetch(`${srv.url}/to-metadata`));
    expect(e.code).toBe("EPOLICY");
    expect(e.message).toContain("169.254.169.254");
    expect((await codeOf(policy.fetch(`${srv.url}/loop`))).message).toMatch(/too many redirects/);
  });
  it("never sends the caller's headers to another origin after a redirect", async () => {
    const r = await policy.fetch(`${srv.url}/to-other`, {
      headers: { authorization: "Bearer s3cret", accept: "application/json" },
    });
    expect(r.body.toString()).toBe("moved");
    const first = srv.requests.filter((q) => q.path === "/to-other").at(-1)!;
    const second = other.requests.filter((q) => q.path === "/echo").at(-1)!;
    expect(first.headers.authorization).toBe("Bearer s3cret");
    expect(second.headers.authorization).toBeUndefined();
    expect(second.headers.accept).toBe("application/json");
  });
  it("checks DNS answers per connection: a name resolving to loopback is refused unless allowed", async () => {
    const e = await codeOf(policy.fetch(`http://rebind.test:${srv.port}/ok`));
    expect(e.code).toBe("EPOLICY");
    expect((await policy.fetch(`http://trusted.test:${srv.port}/ok`)).body.toString()).toBe("hello");
  });
});

describe("https (real TLS server on 127.0.0.1)", () => {
  const dir = tmpDir("attune-tls-");
  let server: https.Server;
  let port: number;
  let cert: string;
  beforeAll(async () => {
    // a throwaway self-signed certificate for localhost / 127.0.0.1
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-keyout",
        path.join(dir.dir, "key.pem"),
        "-out",
        path.join(dir.dir, "cert.pem"),
      ],
      { stdio: "ignore" },
    );
    cert = fs.readFileSync(path.join(dir.dir, "cert.pem"), "utf8");
    server = https.createServer({ key: fs.readFileSync(path.join(dir.dir, "key.pem")), cert }, (req, res) => {
      if (req.url === "/to-http") {
        res.writeHead(302, { location: `http://localhost:${port}/ok` });
        return void res.end();
      }
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("secure");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    dir.cleanup();
  });

  it("fetches over https through the policy's own DNS lookup, trusting an extra CA", async () => {
    const p = new OutboundPolicy({ allowedPrivateHosts: ["localhost"], extraCa: [cert] });
    expect((await p.fetch(`https://localhost:${port}/x`)).body.toString()).toBe("secure");
  });
  it("refuses an untrusted certificate and an https -> http downgrade", async () => {
    const untrusted = new OutboundPolicy({ allowedPrivateHosts: ["localhost"] });
    const e = await codeOf(untrusted.fetch(`https://localhost:${port}/x`));
    expect(e.code).toBe("EFETCH");
    expect(e.message).toMatch(/certificate/i);
    const p = new OutboundPolicy({ allowedPrivateHosts: ["localhost"], extraCa: [cert] });
    const d = await codeOf(p.fetch(`https://localhost:${port}/to-http`));
    expect(d.code).toBe("EPOLICY");
    expect(d.details).toMatchObject({ rule: "https-only" });
  });
});
