// The remote client against servers that misbehave: real sockets on 127.0.0.1.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { ApiClient } from "../src/backends/remote";

let server: http.Server;
let base: string;
const open = new Set<http.ServerResponse>();

beforeAll(async () => {
  server = http.createServer((req, res) => {
    open.add(res);
    const path = req.url ?? "";
    if (path.endsWith("/stalls")) {
      // headers, a few bytes of a 100-byte body, then nothing
      res.writeHead(200, { "content-type": "application/json", "content-length": "100" });
      res.write('{"data":');
    } else if (path.endsWith("/endless")) {
      res.writeHead(200, { "content-type": "application/json" });
      const chunk = Buffer.alloc(1024 * 1024, 0x20);
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once("drain", pump);
      };
      pump();
    } else if (path.endsWith("/null-data")) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"data":null}');
    } else if (path.endsWith("/schema-400")) {
      res.writeHead(400, { "content-type": "application/problem+json" });
      res.end(
        JSON.stringify({
          type: "urn:attune:problem:einvalid_input",
          title: "Bad Request",
          status: 400,
          code: "EINVALID_INPUT",
          detail: "invalid body: force, registry",
          errors: [
            { field: "force", message: "expected boolean, received string" },
            { field: "registry", message: "required" },
          ],
        }),
      );
    } else if (path.endsWith("/unauthorized")) {
      // the API's own words: what an HTTP client must send
      res.writeHead(401, { "content-type": "application/problem+json" });
      res.end(
        JSON.stringify({
          type: "urn:attune:problem:eunauthorized",
          title: "Unauthorized",
          status: 401,
          code: "EUNAUTHORIZED",
          detail: req.headers.authorization
            ? "the token is unknown, revoked or expired"
            : "authentication required: no Authorization header",
          hint: "send Authorization: Bearer <token>; create a token with `attune token create`",
        }),
      );
    } else if (path.endsWith("/moved")) {
      res.writeHead(301, { location: "https://elsewhere.example/api/v1/packs" });
      res.end();
    } else {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"data":[]}');
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const res of open) res.destroy();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const failure = async (p: Promise<unknown>) =>
  p.then(
    () => ({}) as Record<string, unknown>,
    (e) => e,
  );

describe("ApiClient", () => {
  it("a body that stalls ends in ETIMEOUT at the deadline, also past the first seconds", async () => {
    const client = new ApiClient(base, "att_token");
    const t = Date.now();
    // 12 s: Node 20's fetch with redirect "error" stopped honouring the abort after ~10 s
    const e = await failure(client.envelope("GET", "/stalls", undefined, 12_000));
    expect(e).toMatchObject({
      code: "ETIMEOUT",
      message: expect.stringMatching(/no complete answer within 12 s/),
    });
    expect(Date.now() - t).toBeLessThan(40_000);
  }, 60_000);

  it("an endless body is refused at the cap instead of being buffered without end", async () => {
    const e = await failure(new ApiClient(base, undefined).envelope("GET", "/endless", undefined, 60_000));
    expect(e).toMatchObject({ code: "ETOO_LARGE" });
  }, 60_000);

  it("a redirect and a null data member are refused with a message, not a crash", async () => {
    expect(await failure(new ApiClient(base, undefined).envelope("GET", "/moved"))).toMatchObject({
      code: "EFETCH",
      hint: expect.stringContaining("https://elsewhere.example/api/v1/packs"),
    });
    expect(await failure(new ApiClient(base, undefined).envelope("GET", "/null-data"))).toMatchObject({
      code: "EFETCH",
      message: expect.stringContaining('without a "data" member'),
    });
  });

  it("a schema refusal says why each field is wrong, not only which fields", async () => {
    expect(await failure(new ApiClient(base, undefined).envelope("GET", "/schema-400"))).toMatchObject({
      code: "EINVALID_INPUT",
      message: "invalid body: force: expected boolean, received string; registry: required (API status 400)",
    });
  });

  it("a 401 says how a CLI user passes a token (--token, ATTUNE_TOKEN), not the HTTP header to send", async () => {
    expect(await failure(new ApiClient(base, undefined).envelope("GET", "/unauthorized"))).toMatchObject({
      code: "EUNAUTHORIZED",
      message: "authentication required: no Authorization header (API status 401)",
      hint: "pass a token with --token or set ATTUNE_TOKEN (create one with `attune token create` on the API server's machine)",
    });
    const refused = (await failure(new ApiClient(base, "att_wrong").envelope("GET", "/unauthorized"))) as {
      hint: string;
    };
    expect(refused).toMatchObject({
      code: "EUNAUTHORIZED",
      message: "the token is unknown, revoked or expired (API status 401)",
      hint: "pass a valid token with --token or ATTUNE_TOKEN (create one with `attune token create` on the API server's machine; `attune token list` there shows whether this one expired or was revoked)",
    });
    expect(refused.hint).not.toContain("Authorization");
  });

  it("a token a header cannot carry is a usage error that never shows the token", async () => {
    for (const token of ["att_SECRET\nabc", "att_SECRET€", "att SECRET"]) {
      const e = (await failure(new ApiClient(base, token).envelope("GET", "/ok"))) as Error & {
        code: string;
      };
      expect(e.code).toBe("EUSAGE");
      expect(`${e.message} ${String((e as { hint?: string }).hint)}`).not.toContain("SECRET");
    }
    await expect(new ApiClient(base, "att_fine").envelope("GET", "/ok")).resolves.toEqual({ data: [] });
  });
});
