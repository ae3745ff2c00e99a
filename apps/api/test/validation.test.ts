import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import http from "node:http";
import net from "node:net";
import { gzipSync } from "node:zlib";
import request from "supertest";
import { openTestApi, type TestApi } from "./support/api";
import { conform } from "./support/openapi";

let api: TestApi;
beforeAll(async () => {
  api = await openTestApi();
});
afterAll(async () => {
  await api?.close();
});

const fieldsOf = (body: { errors?: Array<{ field: string }> }) =>
  (body.errors ?? []).map((e) => e.field).sort();

function expectProblem(res: request.Response, status: number, code: string, fields?: string[]) {
  expect(res.status).toBe(status);
  expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status, code });
  expect(typeof res.body.type).toBe("string");
  expect(typeof res.body.title).toBe("string");
  expect(typeof res.body.detail).toBe("string");
  // every refusal says how to mend it
  expect(res.body.hint).toEqual(expect.stringMatching(/\S/));
  if (fields) expect(fieldsOf(res.body)).toEqual([...fields].sort());
  conform(res);
}

describe("install body validation", () => {
  const install = (body: unknown) =>
    request(api.app)
      .post("/api/v1/packs/install")
      .set(api.auth())
      .send(body as object);

  const cases: Array<[string, unknown, string[]]> = [
    ["missing source", {}, ["source"]],
    ["empty source", { source: "" }, ["source"]],
    ["source with a control character", { source: "demo\u0000" }, ["source"]],
    [
      "unknown fields, named one by one",
      { source: "demo", sourceType: "git", extra: 1 },
      ["extra", "sourceType"],
    ],
    ["installed_by cannot be chosen by the caller", { source: "demo", installed_by: 99 }, ["installed_by"]],
    ["camelCase instead of snake_case", { source: "demo", skipDeps: true }, ["skipDeps"]],
    [
      "non-boolean flags",
      { source: "demo", force: "yes", skip_deps: 1, skip_tests: null, refresh: "true" },
      ["force", "refresh", "skip_deps", "skip_tests"],
    ],
    ["non-string checksum", { source: "demo", checksum: 5 }, ["checksum"]],
    ["ref_spec that looks like an option", { source: "demo", ref_spec: "--upload-pack=x" }, ["ref_spec"]],
    ["non-string registry", { source: "demo", registry: 5 }, ["registry"]],
    ["an array instead of an object", [{ source: "demo" }], ["body"]],
  ];
  it.each(cases)("%s -> 400 naming the field", async (_name, body, fields) => {
    const res = await install(body);
    expectProblem(res, 400, "EINVALID_INPUT", fields);
  });

  it.each([
    ["a ref_spec for a local directory", { source: "./some-pack", ref_spec: "v1" }, /ref_spec/],
    ["a ref_spec next to ref@version", { source: "demo@1.0.0", ref_spec: "1.0.0" }, /ref@version/],
    ["a git ref_spec with '..'", { source: "https://git.example.com/p.git", ref_spec: "a..b" }, undefined],
  ])("%s -> 400 naming ref_spec, not the pack's ref", async (_name, body, hint) => {
    const res = await install(body);
    expectProblem(res, 400, "EINVALID_INPUT", ["ref_spec"]);
    expect(res.body.detail).not.toMatch(/^ref: /);
    if (hint) expect(res.body.hint).toMatch(hint);
  });

  // refused by the library's git-ref rule, not a schema of its own: the reason and the hint, as in
  // local mode, and one length limit (255, git's)
  it.each([
    ["starts with '-'", "-x", /^git ref "-x" is refused: it starts with '-'$/],
    ["is 256 characters", "a".repeat(256), /is refused: it is longer than 255 characters$/],
    ["holds a control character", "v1\u001b", /is refused: it holds control characters$/],
  ])("a git ref_spec that %s -> 400 with the library's reason and hint", async (_name, ref, detail) => {
    const res = await install({ source: "https://git.example.com/p.git", ref_spec: ref });
    expectProblem(res, 400, "EINVALID_INPUT", ["ref_spec"]);
    expect(res.body.detail).toMatch(detail);
    expect(res.body.hint).toBe("give a tag, a branch name or a 40-hex commit SHA");
  });

  // for a registry ref, ref_spec is a registry version: its refusal names ref_spec and says what it
  // takes, not how to write a source (ref@1.2.3 …)
  it.each([
    ["starts with '-'", "-x"],
    ["looks like an option", "--upload-pack=x"],
    ["is empty", ""],
    ["is a git branch name", "main"],
  ])(
    "a registry ref_spec that %s -> 400 naming ref_spec, with a registry version hint",
    async (_name, ref) => {
      const res = await install({ source: "demo", ref_spec: ref });
      expectProblem(res, 400, "EINVALID_INPUT", ["ref_spec"]);
      const detail = `ref_spec: ${JSON.stringify(ref)} is not a version, "latest" or a semver range`;
      expect(res.body.detail).toBe(detail);
      expect(res.body.errors).toEqual([{ field: "ref_spec", message: detail }]);
      expect(res.body.hint).toBe(
        "for a registry source, ref_spec takes a registry version: 1.2.3, latest or a range such as ^1.2",
      );
    },
  );

  it("a bad version written into the source still names source, with the source's syntax", async () => {
    const res = await install({ source: "demo@-x" });
    expectProblem(res, 400, "EINVALID_INPUT", ["source"]);
    expect(res.body.detail).toMatch(/^source: "-x" is not a version/);
    expect(res.body.hint).toBe("use ref, ref@1.2.3, ref@latest or ref@^1.2");
  });

  it("a git ref_spec of 255 characters passes validation", async () => {
    const res = await install({ source: "https://git.example.com/p.git", ref_spec: "a".repeat(255) });
    expect(res.body.code).not.toBe("EINVALID_INPUT");
  });

  // the same code, message and hint as the CLI's local mode gives for the same input
  it.each([
    ["malformed checksum", "md5:abc"],
    ["short checksum", "sha256:abc"],
    ["empty checksum", ""],
  ])("%s -> 400 EINVALID_CHECKSUM with the form in the hint", async (_name, checksum) => {
    const res = await install({ source: "demo", checksum });
    expectProblem(res, 400, "EINVALID_CHECKSUM", ["checksum"]);
    expect(res.body.hint).toMatch(/"sha256:" followed by 64 hexadecimal characters/);
  });

  it("a checksum in capitals (prefix and digits) is accepted, as the library compares lower-cased", async () => {
    const res = await install({ source: "demo", checksum: `SHA256:${"AB".repeat(32)}` });
    expect(res.body.code).not.toBe("EINVALID_CHECKSUM");
    expect(res.status).not.toBe(400);
  });

  it("the message of a missing field says it is required", async () => {
    const res = await install({});
    expect(res.body.errors).toEqual([{ field: "source", message: "required" }]);
  });

  it.each([
    ["null", "null"],
    ['"x"', "string"],
    ["42", "number"],
    ["true", "boolean"],
    ["[]", "array"],
    ['[{"source":"demo"}]', "array"],
  ])(
    "valid JSON that is not an object (%s) -> 400 EINVALID_INPUT naming the body's type, with a hint, on install and verify",
    async (body, type) => {
      for (const [path, hint] of [
        ["/api/v1/packs/install", 'send a JSON object, e.g. {"source": "…"}'],
        ["/api/v1/packs/demo/verify", "send no body, or an empty JSON object {}"],
      ]) {
        const res = await request(api.app)
          .post(path)
          .set(api.auth())
          .set("Content-Type", "application/json")
          .send(body);
        expectProblem(res, 400, "EINVALID_INPUT", ["body"]);
        expect(res.body).toMatchObject({
          detail: `the request body must be a JSON object, not ${type}`,
          errors: [{ field: "body", message: `expected object, received ${type}` }],
          hint,
        });
      }
    },
  );

  it("thousands of unknown fields -> 400 naming the first, with a bounded answer", async () => {
    const keys = Array.from({ length: 6000 }, (_, i) => `k${i}`);
    const body = Object.fromEntries(keys.map((k) => [k, 1]));
    const res = await install({ source: "demo", ...body });
    expectProblem(res, 400, "EINVALID_INPUT");
    expect(res.text.length).toBeLessThan(4096); // it was 350 KB: every key in detail and errors
    expect(res.body.detail).toBe("invalid body: k0, k1, k2, k3, k4 and 5995 more");
    expect(res.body.errors).toHaveLength(21);
    expect(res.body.errors[0]).toEqual({ field: "k0", message: "unknown field; remove it" });
    expect(res.body.errors[19]).toEqual({ field: "k19", message: "unknown field; remove it" });
    expect(res.body.errors[20]).toEqual({
      field: "body",
      message: "5980 more refused fields, not listed (only the first 20 are)",
    });
  });

  it("a body refused in a few ways names each, with no summary entry", async () => {
    const res = await install({ source: "", force: "yes", extra: 1 });
    expectProblem(res, 400, "EINVALID_INPUT", ["source", "force", "extra"]);
    expect(res.body.detail).toBe("invalid body: source, force, extra");
  });

  it.each([
    ["no Content-Length", ""],
    ["Content-Length: 0", "Content-Length: 0\r\n"],
  ])(
    "Content-Type: application/json without a body (%s) -> 400 source required on install; verify takes it",
    async (_name, length) => {
      const server = http.createServer(api.app);
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      try {
        const { port } = server.address() as net.AddressInfo;
        const exchange = (target: string) =>
          new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
            let text = "";
            const socket = net.connect(port, "127.0.0.1", () =>
              socket.write(
                `POST ${target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${api.tokens.all}\r\n` +
                  `Content-Type: application/json\r\n${length}Connection: close\r\n\r\n`,
              ),
            );
            socket.setEncoding("utf8").on("data", (d: string) => (text += d));
            socket.on("error", reject);
            socket.on("end", () => {
              const [head, body] = text.split("\r\n\r\n");
              resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1]), body: JSON.parse(body) });
            });
          });
        const installed = await exchange("/api/v1/packs/install");
        expect(installed).toMatchObject({
          status: 400,
          body: { code: "EINVALID_INPUT", errors: [{ field: "source", message: "required" }] },
        });
        // verify has no body to refuse: it goes on to look the pack up
        expect(await exchange("/api/v1/packs/demo/verify")).toMatchObject({
          status: 404,
          body: { code: "ENOTFOUND" },
        });
      } finally {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    },
  );

  it("malformed JSON -> 400 EINVALID_JSON", async () => {
    const res = await request(api.app)
      .post("/api/v1/packs/install")
      .set(api.auth())
      .set("Content-Type", "application/json")
      .send('{"source": "demo",');
    expectProblem(res, 400, "EINVALID_JSON", ["body"]);
  });

  it("a body over 64 KiB -> 413", async () => {
    const res = await install({ source: "x".repeat(70 * 1024) });
    expectProblem(res, 413, "ETOO_LARGE", ["body"]);
  });

  it("a compressed body that does not inflate -> 400 EINVALID_JSON, not a 500", async () => {
    const whole = gzipSync(Buffer.from('{"source":"demo"}'));
    for (const [encoding, body] of [
      ["gzip", Buffer.from("xx")],
      ["deflate", Buffer.from("not deflate")],
      ["gzip", whole.subarray(0, whole.length - 4)],
    ] as const) {
      const res = await request(api.app)
        .post("/api/v1/packs/install")
        .set(api.auth())
        .set("Content-Type", "application/json")
        .set("Content-Encoding", encoding)
        .send(body);
      expectProblem(res, 400, "EINVALID_JSON", ["body"]);
      expect(res.body.detail).toMatch(/^the request body could not be read: /);
    }
  });

  it("a declared Content-Length over the limit -> 413 at once, on a real socket, whatever the client sends", async () => {
    // body-parser drained a refused body before answering: 14 bytes sent of a declared 10^12 kept
    // the request open until the server's request timeout, which then answered a bare 408
    const server = http.createServer(api.app);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const answer = (socket: net.Socket) =>
      new Promise<{ head: string; body: unknown }>((resolve) => {
        let raw = "";
        socket.setEncoding("utf8").on("data", (d: string) => {
          raw += d;
          const [head, body = ""] = raw.split("\r\n\r\n");
          const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? NaN);
          if (Buffer.byteLength(body) >= length) resolve({ head, body: JSON.parse(body) });
        });
      });
    const request = (length: number) =>
      "POST /api/v1/packs/install HTTP/1.1\r\nHost: x\r\n" +
      `Authorization: Bearer ${api.tokens.all}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${length}\r\n\r\n`;
    try {
      const { port } = server.address() as net.AddressInfo;
      // a client that declares 10^12 bytes and sends 14: the answer comes without the rest
      const liar = net.connect(port, "127.0.0.1");
      const lied = answer(liar);
      liar.write(request(1e12) + '{"source":"x"}');
      // a client that sends all of its 16 MiB: it reads its 413 (not a broken pipe)
      const honest = net.connect(port, "127.0.0.1");
      const told = answer(honest);
      honest.write(request(16 * 1024 * 1024));
      honest.write(Buffer.alloc(16 * 1024 * 1024, 0x20));
      for (const { head, body } of [await lied, await told]) {
        expect(head).toMatch(/^HTTP\/1\.1 413 /);
        expect(body).toMatchObject({ status: 413, code: "ETOO_LARGE", errors: [{ field: "body" }] });
      }
      liar.destroy();
      honest.destroy();
      // a client that asked for `Connection: close` and is still sending when the refusal arrives
      // (as Node's http client without an agent, Python's urllib): the server must not close the
      // socket under it, or its next write fails with a broken pipe (EPIPE/ECONNRESET) instead of
      // it reading the answer; so for a 413 (too large) and a 403 (a token without the scope)
      // the same for an unknown route and a method the route does not allow: answered before the
      // body, not after it (nor at the request timeout, for a client that stalls)
      for (const [token, status, line] of [
        [api.tokens.all, 413, "POST /api/v1/packs/install"],
        [api.tokens.read, 403, "POST /api/v1/packs/install"],
        [api.tokens.all, 404, "POST /api/v1/nothing-here"],
        [api.tokens.all, 405, "PUT /api/v1/packs"],
      ] as const) {
        const closing = net.connect(port, "127.0.0.1");
        const failed: Error[] = [];
        closing.on("error", (e) => failed.push(e));
        const toldClosing = answer(closing);
        closing.write(
          request(4 * 1024 * 1024)
            .replace("Host: x\r\n", "Host: x\r\nConnection: close\r\n")
            .replace(api.tokens.all, token)
            .replace("POST /api/v1/packs/install", line),
        );
        closing.write(Buffer.alloc(64 * 1024, 0x20));
        const { head } = await toldClosing;
        expect(head).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
        await new Promise((r) => setTimeout(r, 100)); // the server has finished its answer by now
        // the rest of the declared 4 MiB, exactly (a byte more would start a new request)
        for (let sent = 64 * 1024; sent < 4 * 1024 * 1024; sent += 252 * 1024)
          await new Promise<void>((resolve) =>
            closing.write(Buffer.alloc(252 * 1024, 0x20), (e) => {
              if (e) failed.push(e);
              resolve();
            }),
          );
        await new Promise((r) => setTimeout(r, 100));
        expect({ status, failed: failed.map((e) => (e as NodeJS.ErrnoException).code) }).toEqual({
          status,
          failed: [],
        });
        closing.destroy();
      }
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it("a refusal of a request without a body honours the client's Connection: close (and HTTP/1.0)", async () => {
    // the keep-alive above is for a body still on its way; a GET has none, so a client that asked
    // to close (or speaks HTTP/1.0) gets its answer and the end of the stream at once, not ~6 s later
    const server = http.createServer(api.app);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const { port } = server.address() as net.AddressInfo;
      const exchange = (raw: string) =>
        new Promise<{ text: string; ms: number }>((resolve, reject) => {
          const started = Date.now();
          let text = "";
          const socket = net.connect(port, "127.0.0.1", () => socket.write(raw));
          socket.setEncoding("utf8").on("data", (d: string) => (text += d));
          socket.on("error", reject);
          socket.on("end", () => resolve({ text, ms: Date.now() - started }));
        });
      for (const raw of [
        "GET /nonexistent HTTP/1.0\r\n\r\n",
        "GET /nonexistent HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /api/v1/nonexistent HTTP/1.0\r\n\r\n",
        `GET /api/v1/nonexistent HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${api.tokens.read}\r\nConnection: close\r\n\r\n`,
      ]) {
        const { text, ms } = await exchange(raw);
        const [head, body] = text.split("\r\n\r\n");
        expect({ raw, status: /^HTTP\/1\.[01] (\d+)/.exec(head)?.[1] }).toEqual({
          raw,
          status: expect.stringMatching(/^40[14]$/),
        });
        expect(head).not.toMatch(/\r\nConnection: keep-alive/i);
        expect(JSON.parse(body)).toMatchObject({
          code: expect.stringMatching(/^(ENOTFOUND|EUNAUTHORIZED)$/),
        });
        expect(ms).toBeLessThan(2000); // closed by the server after the answer (Node's keep-alive is 5 s)
      }
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it("a non-JSON body -> 415 naming Content-Type", async () => {
    const res = await request(api.app)
      .post("/api/v1/packs/install")
      .set(api.auth())
      .set("Content-Type", "text/plain")
      .send("source=demo");
    expectProblem(res, 415, "EUNSUPPORTED_MEDIA_TYPE", ["Content-Type"]);
  });

  it("a charset or a Content-Encoding it cannot decode -> 415 naming that header, the value as sent", async () => {
    for (const path of ["/api/v1/packs/install", "/api/v1/packs/demo/verify"]) {
      const charset = await request(api.app)
        .post(path)
        .set(api.auth())
        .set("Content-Type", "application/json; charset=latin1")
        .send("{}");
      expectProblem(charset, 415, "EUNSUPPORTED_MEDIA_TYPE", ["Content-Type"]);
      expect(charset.body.detail).toBe('unsupported charset "latin1"');
      const encoding = await request(api.app)
        .post(path)
        .set(api.auth())
        .set("Content-Type", "application/json")
        .set("Content-Encoding", "zstd-ish")
        .send("{}");
      expectProblem(encoding, 415, "EUNSUPPORTED_MEDIA_TYPE", ["Content-Encoding"]);
    }
  });

  it("an unknown query parameter on install -> 400", async () => {
    const res = await request(api.app)
      .post("/api/v1/packs/install?force=true")
      .set(api.auth())
      .send({ source: "demo" });
    expectProblem(res, 400, "EINVALID_INPUT", ["force"]);
  });
});

describe("query and path validation", () => {
  const get = (path: string) => request(api.app).get(path).set(api.auth());
  const cases: Array<[string, string, string[]]> = [
    ["page_size over 100", "/api/v1/packs?page_size=101", ["page_size"]],
    ["page_size 0", "/api/v1/packs?page_size=0", ["page_size"]],
    ["page not a number", "/api/v1/packs?page=two", ["page"]],
    ["page 0", "/api/v1/packs?page=0", ["page"]],
    ["fractional page", "/api/v1/packs?page=1.5", ["page"]],
    ["page in exponent notation", "/api/v1/packs?page=1e3", ["page"]],
    ["page in hexadecimal", "/api/v1/packs?page=0x10", ["page"]],
    // one problem, not zod's "Too big: expected int …" and "… number …" both
    ["page of 20 digits", "/api/v1/packs?page=99999999999999999999", ["page"]],
    ["history page of 20 digits", "/api/v1/packs/demo/history?page=99999999999999999999", ["page"]],
    ["page_size with a sign", "/api/v1/packs?page_size=+5", ["page_size"]],
    ["repeated page", "/api/v1/packs?page=1&page=2", ["page"]],
    ["unknown source_type", "/api/v1/packs?source_type=ftp", ["source_type"]],
    // a history page takes the list's numbers, with the same limits and the same problems
    ["history page_size over 100", "/api/v1/packs/demo/history?page_size=101", ["page_size"]],
    ["history page_size 0", "/api/v1/packs/demo/history?page_size=0", ["page_size"]],
    ["history page 0", "/api/v1/packs/demo/history?page=0", ["page"]],
    ["history page over 1,000,000", "/api/v1/packs/demo/history?page=1000001", ["page"]],
    ["history page not a number", "/api/v1/packs/demo/history?page=last", ["page"]],
    ["history page in exponent notation", "/api/v1/packs/demo/history?page=1e3", ["page"]],
    ["history fractional page_size", "/api/v1/packs/demo/history?page_size=2.5", ["page_size"]],
    ["history empty page", "/api/v1/packs/demo/history?page=", ["page"]],
    ["history repeated page_size", "/api/v1/packs/demo/history?page_size=1&page_size=2", ["page_size"]],
    ["history both bad", "/api/v1/packs/demo/history?page=0&page_size=x", ["page", "page_size"]],
    ["an unknown parameter on history", "/api/v1/packs/demo/history?limit=5", ["limit"]],
    ["a list parameter on history", "/api/v1/packs/demo/history?source_type=git", ["source_type"]],
    ["unknown parameter", "/api/v1/packs?sort=ref", ["sort"]],
    ["search without q", "/api/v1/registries/search", ["q"]],
    ["search with an empty q", "/api/v1/registries/search?q=", ["q"]],
    ["search with a 201-character q", `/api/v1/registries/search?q=${"a".repeat(201)}`, ["q"]],
    ["search with refresh not true/false", "/api/v1/registries/search?q=x&refresh=1", ["refresh"]],
    ["an unknown parameter on show", "/api/v1/packs/demo?verbose=1", ["verbose"]],
  ];
  it.each(cases)("%s -> 400 naming it", async (_name, path, fields) => {
    expectProblem(await get(path), 400, "EINVALID_INPUT", fields);
  });

  it.each([
    ["/api/v1/packs?page=1&page=2", "page"],
    ["/api/v1/packs?source_type=git&source_type=git", "source_type"],
    ["/api/v1/packs/demo/history?page_size=1&page_size=2", "page_size"],
    ["/api/v1/registries/search?q=a&q=b", "q"],
  ])("%s: a parameter given twice is refused as such, naming it", async (path, field) => {
    const res = await get(path);
    expectProblem(res, 400, "EINVALID_INPUT", [field]);
    expect(res.body.detail).toBe(`invalid query: ${field}`);
    expect(res.body.errors).toEqual([{ field, message: "given more than once; give it once" }]);
  });

  it.each([
    ["GET", "/api/v1/packs/%ZZ"],
    ["GET", "/api/v1/packs/%E0%A4%A/history"],
    ["GET", "/api/v1/packs/%FF/installation"],
    ["DELETE", "/api/v1/packs/%ZZ"],
    ["POST", "/api/v1/packs/%ZZ/verify"],
  ])("%s %s: a path that is not valid percent-encoding -> 400, not a 500", async (method, url) => {
    const res = await request(api.app)
      [method.toLowerCase() as "get" | "delete" | "post"](url)
      .set(api.auth());
    expectProblem(res, 400, "EINVALID_INPUT", ["path"]);
    // the product's words only, not the router's ("Failed to decode param '%ZZ'")
    expect(res.body.detail).toBe("the URL path is not valid percent-encoding");
  });

  it.each(["/api/v1/packs/%ZZ/verify", "/api/v1/packs/HELLO/verify", "/api/v1/PACKS/%ZZ/Verify/"])(
    "POST %s with a token without packs:read -> 403, before the path is looked at",
    async (url) => {
      const res = await request(api.app).post(url).set(api.auth(api.tokens.install));
      expect(res.status).toBe(403); // (the OpenAPI document spells paths in lower case only)
      expect(res.body.code).toBe("EFORBIDDEN");
      expect(res.body.detail).toMatch(/packs:read/);
    },
  );

  it.each([
    ["GET", "/api/v1/packs/%ZZ", "install", "packs:read"],
    ["GET", "/api/v1/packs/%ZZ/history", "delete", "packs:read"],
    ["GET", "/api/v1/Packs/%FF/Installation/", "install", "packs:read"],
    ["GET", "/api/v1/packs/Bad", "delete", "packs:read"],
    ["HEAD", "/api/v1/packs/%ZZ", "install", null],
    ["DELETE", "/api/v1/packs/%ZZ", "read", "packs:delete"],
    ["DELETE", "/api/v1/packs/x%20y/", "install", "packs:delete"],
  ])(
    "%s %s with a token without the scope (%s only) -> 403, before the path is looked at",
    async (method, url, token, scope) => {
      const res = await request(api.app)
        [method.toLowerCase() as "get" | "head" | "delete"](url)
        .set(api.auth(api.tokens[token as "read" | "install" | "delete"]));
      expect(res.status).toBe(403);
      if (scope === null) return; // HEAD: no body
      expect(res.body.code).toBe("EFORBIDDEN");
      expect(res.body.detail).toContain(scope);
    },
  );

  it("a token with the scope still gets the path's own refusal (400 path, 400 ref, 404)", async () => {
    expect((await request(api.app).get("/api/v1/packs/%ZZ").set(api.auth(api.tokens.read))).body.code).toBe(
      "EINVALID_INPUT",
    );
    expect(
      (await request(api.app).delete("/api/v1/packs/Bad").set(api.auth(api.tokens.delete))).body.code,
    ).toBe("EINVALID_REF");
    const missing = await request(api.app).get("/api/v1/packs/nope/history").set(api.auth(api.tokens.read));
    expect([missing.status, missing.body.code]).toEqual([404, "ENOTFOUND"]);
  });

  it("DELETE with an unknown parameter -> 400", async () => {
    const res = await request(api.app).delete("/api/v1/packs/demo?all=1").set(api.auth());
    expectProblem(res, 400, "EINVALID_INPUT", ["all"]);
  });

  it.each([
    ["POST", "/api/v1/packs/-x/verify"],
    ["GET", "/api/v1/packs/Bad"],
    ["GET", "/api/v1/packs/Bad/history"],
    ["GET", "/api/v1/packs/a/installation"],
    ["DELETE", "/api/v1/packs/x%20y"],
    ["GET", "/api/v1/packs/..%2Fetc"],
  ])(
    "%s %s: a bad ref -> 400 EINVALID_REF with the rule in the hint, as in local mode",
    async (method, url) => {
      const res = await request(api.app)
        [method.toLowerCase() as "get" | "delete" | "post"](url)
        .set(api.auth());
      expectProblem(res, 400, "EINVALID_REF", ["ref"]);
      expect(res.body.detail).toMatch(/is not a valid pack ref/);
      expect(res.body.hint).toMatch(/starts with a lower-case letter/);
    },
  );
});

describe("routing", () => {
  it("an unknown route -> 404 problem", async () => {
    const res = await request(api.app).get("/api/v1/nothing-here").set(api.auth());
    expect(res.status).toBe(404);
    expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(res.body.code).toBe("ENOTFOUND");
    const outside = await request(api.app).get("/nothing");
    expect(outside.status).toBe(404);
    expect(outside.body.code).toBe("ENOTFOUND");
  });

  // HEAD is served wherever GET is, so Allow names it
  const wrong: Array<[string, string, string]> = [
    ["put", "/api/v1/packs", "GET, HEAD"],
    ["get", "/api/v1/packs/demo/verify", "POST"],
    ["patch", "/api/v1/packs/demo", "GET, HEAD, DELETE"],
    ["put", "/api/v1/packs/install", "GET, HEAD, POST, DELETE"],
    ["post", "/api/v1/registries", "GET, HEAD"],
    ["delete", "/healthz", "GET, HEAD"],
  ];
  it.each(wrong)("%s %s -> 405 with Allow: %s", async (method, path, allow) => {
    const res = await (request(api.app) as unknown as Record<string, (p: string) => request.Test>)
      [method](path)
      .set(api.auth());
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe(allow);
    expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(res.body.code).toBe("EMETHOD_NOT_ALLOWED");
    expect(res.body.hint).toContain(`use ${allow}`);
  });

  it("an unknown route is 404 with a hint to the routes", async () => {
    const res = await request(api.app).get("/api/v1/nothing-here").set(api.auth());
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({
      code: "ENOTFOUND",
      hint: expect.stringContaining("/api/v1/openapi.json"),
    });
  });

  it("HEAD is answered where GET is", async () => {
    for (const path of ["/healthz", "/api/v1/packs", "/api/v1/registries"])
      expect((await request(api.app).head(path).set(api.auth())).status).toBe(200);
  });

  it("an absolute-form request target: the problem's instance is only its path", async () => {
    const server = http.createServer(api.app);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const { port } = server.address() as net.AddressInfo;
      const text = await new Promise<string>((resolve, reject) => {
        let text = "";
        const socket = net.connect(port, "127.0.0.1", () =>
          socket.write(
            "GET http://evil.example/api/v1/packs?page=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
          ),
        );
        socket.setEncoding("utf8").on("data", (d: string) => (text += d));
        socket.on("error", reject);
        socket.on("end", () => resolve(text));
      });
      const [head, body] = text.split("\r\n\r\n");
      expect(head).toMatch(/^HTTP\/1\.1 401 /);
      expect(JSON.parse(body)).toMatchObject({ code: "EUNAUTHORIZED", instance: "/api/v1/packs" });
      expect(body).not.toMatch(/evil/);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it("GET /packs/install reads a pack named install (a valid ref), it is not a 405", async () => {
    const res = await request(api.app).get("/api/v1/packs/install").set(api.auth());
    expect(res.status).toBe(404);
    expect(res.body.code).toBe("ENOTFOUND");
  });
});
