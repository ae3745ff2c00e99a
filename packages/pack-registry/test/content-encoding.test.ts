import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import * as tar from "tar";
import yazl from "yazl";
import { serveRoutes, tmpDir, writeTree, type RouteServer } from "@attune/test-utils";
import type { RegistryConfig } from "../src/config/types";
import { OutboundPolicy } from "../src/policy/outbound-policy";
import { RegistryClient } from "../src/registry-index/client";
import { archiveUrlSource } from "../src/sources/archive-url";
import type { FetchContext } from "../src/sources/types";
import { entry } from "./index-fixtures";

const policy = new OutboundPolicy({ allowHttp: true, allowedPrivateHosts: ["127.0.0.1"] });
const ctx: FetchContext = { policy, registries: new RegistryClient({ registries: [], policy }) };
const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const MiB = 1024 * 1024;

type Failure = { code?: string; message: string; hint?: string; details?: Record<string, unknown> };
async function rejection(p: Promise<unknown>): Promise<Failure> {
  try {
    await p;
  } catch (e) {
    return e as Failure;
  }
  throw new Error("expected a rejection");
}

async function tarOf(dir: string, gzip: boolean): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of tar.c({ gzip, cwd: dir, portable: true }, fs.readdirSync(dir)))
    chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe("Content-Encoding of indexes and archives (real HTTP server)", () => {
  const root = tmpDir("attune-ce-");
  const privateTmp = path.join(root.dir, "tmp");
  const oldTmp = process.env.TMPDIR;
  let srv: RouteServer;
  let tgz: Buffer;
  let plainTar: Buffer;
  let n = 0;
  const newStage = () => {
    const stage = path.join(root.dir, `stage-${n++}`);
    fs.mkdirSync(stage);
    return stage;
  };
  const indexJson = JSON.stringify({
    registry_name: "cdn",
    registry_url: "https://example.com",
    version: "1.0",
    last_updated: "2026-01-01T00:00:00Z",
    packs: [entry({ ref: "beta", version: "1.4.2" })],
  });
  /** serve `body` as is, labelled with `encoding` (as S3 does with an object's metadata) */
  const encoded = (
    p: string,
    body: Buffer | string,
    encoding: string,
    type = "application/json",
    status = 200,
  ) =>
    srv.route(p, (_q, r) => {
      const buf = Buffer.isBuffer(body) ? body : Buffer.from(body);
      r.writeHead(status, {
        "content-type": type,
        "content-encoding": encoding,
        "content-length": buf.length,
      });
      r.end(buf);
    });
  const reg = (name: string, p: string): RegistryConfig => ({
    name,
    url: `${srv.url}${p}`,
    priority: 1,
    enabled: true,
    headers: {},
  });
  const client = (p: string) => new RegistryClient({ registries: [reg("cdn", p)], policy });
  const headersOf = (p: string) => srv.requests.filter((q) => q.path === p).map((q) => q.headers);

  beforeAll(async () => {
    fs.mkdirSync(privateTmp);
    process.env.TMPDIR = privateTmp;
    const src = path.join(root.dir, "src");
    writeTree(src, { "demo/pack.yaml": "ref: demo\nversion: 1.0.0\n" });
    tgz = await tarOf(src, true);
    plainTar = await tarOf(src, false);
    srv = await serveRoutes();
  });
  afterAll(async () => {
    process.env.TMPDIR = oldTmp;
    await srv.close();
    root.cleanup();
  });

  describe("a document (index) is decoded", () => {
    it.each([
      ["gzip", zlib.gzipSync],
      ["x-gzip", zlib.gzipSync],
      ["GZIP", zlib.gzipSync],
      ["deflate", zlib.deflateSync], // zlib-wrapped, as RFC 9110 says
      ["deflate", zlib.deflateRawSync], // raw, as some servers send it
      ["identity", (b: Buffer) => b],
      ["", (b: Buffer) => b],
    ])("Content-Encoding %j", async (encoding, encode) => {
      const p = `/doc-${n++}.json`;
      encoded(p, encode(Buffer.from(indexJson)), encoding);
      expect((await policy.fetch(`${srv.url}${p}`)).body.toString()).toBe(indexJson);
    });

    it("reads a registry index served gzip-compressed (S3/CloudFront), and sends no Accept-Encoding", async () => {
      encoded("/s3-index.json", zlib.gzipSync(indexJson), "gzip");
      const found = await client("/s3-index.json").resolve("beta");
      expect(found.entry.version).toBe("1.4.2");
      expect(headersOf("/s3-index.json").map((h) => h["accept-encoding"])).toEqual([undefined]);
    });

    it("an empty body labelled gzip is empty", async () => {
      encoded("/empty.json", Buffer.alloc(0), "gzip");
      expect((await policy.fetch(`${srv.url}/empty.json`)).body.length).toBe(0);
    });

    it.each(["br", "zstd", "compress", "gzip, br", "gzip, gzip"])(
      "refuses Content-Encoding %j, naming the header and the fix",
      async (encoding) => {
        const p = `/coded-${n++}.json`;
        encoded(p, Buffer.from([0x1f, 0x8b, 1, 2, 3]), encoding);
        const e = await rejection(client(p).resolve("beta"));
        expect(e.code).toBe("EFETCH");
        expect(e.message).toBe(
          `registry "cdn" (${srv.url}${p}) cannot be read: ${srv.url}${p} was sent with Content-Encoding: ${encoding}, which attune cannot decode (it decodes gzip and deflate)`,
        );
        expect(e.hint).toMatch(
          /^have the server send it uncompressed, or gzip-compressed \(Content-Encoding: gzip\)/,
        );
        expect(e.details).toMatchObject({ registry: "cdn", contentEncoding: encoding });
      },
    );

    it("an error page in any coding is still reported by its status", async () => {
      encoded("/gone.json", Buffer.from("whatever"), "br", "text/html", 404);
      const e = await rejection(client("/gone.json").resolve("beta"));
      expect(e.message).toMatch(/answered HTTP 404 Not Found$/);
    });

    it("a body labelled gzip that is not gzip says so, instead of 'not valid JSON'", async () => {
      encoded("/liar.json", indexJson, "gzip");
      const e = await rejection(client("/liar.json").resolve("beta"));
      expect(e.code).toBe("EFETCH");
      expect(e.message).toMatch(
        /was sent with Content-Encoding: gzip but is not valid gzip data: incorrect header check$/,
      );
      expect(e.hint).toMatch(/fix the server's Content-Encoding/);
    });

    it("refuses a gzip bomb past the index cap while streaming, naming the cap", async () => {
      // 64 MiB of spaces in ~64 KiB: the cap is on the decoded bytes too
      const bomb = zlib.gzipSync(Buffer.alloc(64 * MiB, " "), { level: 9 });
      expect(bomb.length).toBeLessThan(MiB);
      encoded("/bomb.json", bomb, "gzip");
      const before = process.memoryUsage().arrayBuffers;
      const e = await rejection(client("/bomb.json").resolve("beta"));
      expect(e.code).toBe("ETOO_LARGE");
      expect(e.message).toBe(
        `registry "cdn" (${srv.url}/bomb.json) cannot be read: ${srv.url}/bomb.json (Content-Encoding: gzip) decodes to more than the 16777216-byte cap`,
      );
      expect(e.hint).toMatch(/an index may be at most 16777216 bytes/);
      expect(e.details).toMatchObject({ decoded: true, maxBytes: 16 * MiB });
      // what was buffered is bounded by the cap, not by the 64 MiB it would inflate to
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(40 * MiB);
    });

    it("a gzip body that stalls still times out", async () => {
      srv.route("/stall.json", (_q, r) => {
        r.writeHead(200, { "content-type": "application/json", "content-encoding": "gzip" });
        r.write(zlib.gzipSync(indexJson).subarray(0, 20)); // then silence
      });
      const quick = new RegistryClient({
        registries: [reg("cdn", "/stall.json")],
        policy,
        fetchTimeoutMs: 300,
      });
      expect((await rejection(quick.resolve("beta"))).code).toBe("ETIMEOUT");
    });

    it("a caller's cap applies to the decoded bytes", async () => {
      encoded("/big.json", zlib.gzipSync(Buffer.alloc(10_000, "a")), "gzip");
      const e = await rejection(policy.fetch(`${srv.url}/big.json`, { maxBytes: 5000 }));
      expect(e.code).toBe("ETOO_LARGE");
      expect(e.message).toMatch(/\(Content-Encoding: gzip\) decodes to more than the 5000-byte cap$/);
    });
  });

  describe("an archive is the file's bytes", () => {
    it("asks for identity, and keeps a .tar.gz labelled Content-Encoding: gzip as sent (S3 metadata)", async () => {
      encoded("/s3/demo-1.0.0.tar.gz", tgz, "gzip", "application/gzip");
      const url = `${srv.url}/s3/demo-1.0.0.tar.gz`;
      const stage = newStage();
      const r = await archiveUrlSource(url).fetch(stage, ctx);
      expect(r.archiveChecksum).toBe(sha(tgz));
      expect(r.details).toMatchObject({ bytes: tgz.length, contentEncoding: "gzip", decoded: false });
      expect(fs.readFileSync(path.join(stage, "demo/pack.yaml"), "utf8")).toContain("ref: demo");
      const ok = await archiveUrlSource(url, { expectedArchiveChecksum: sha(tgz) }).fetch(newStage(), ctx);
      expect(ok.archiveChecksum).toBe(sha(tgz));
      expect(headersOf("/s3/demo-1.0.0.tar.gz").map((h) => h["accept-encoding"])).toEqual([
        "identity",
        "identity",
      ]);
      expect(fs.readdirSync(privateTmp)).toEqual([]);
    });

    it("decodes once a .tar.gz compressed again on the wire, with or without the registry's checksum", async () => {
      encoded("/twice/demo-1.0.0.tar.gz", zlib.gzipSync(tgz), "gzip", "application/gzip");
      const url = `${srv.url}/twice/demo-1.0.0.tar.gz`;
      for (const expectedArchiveChecksum of [undefined, sha(tgz)]) {
        const stage = newStage();
        const r = await archiveUrlSource(url, { expectedArchiveChecksum }).fetch(stage, ctx);
        expect(r.archiveChecksum).toBe(sha(tgz));
        expect(r.details).toMatchObject({ bytes: tgz.length, decoded: true });
        expect(fs.existsSync(path.join(stage, "demo/pack.yaml"))).toBe(true);
      }
      expect(fs.readdirSync(privateTmp)).toEqual([]);
    });

    it("decodes a .tar a server gzipped on the fly: the checksum is the .tar's", async () => {
      encoded("/fly/demo-1.0.0.tar", zlib.gzipSync(plainTar), "gzip", "application/x-tar");
      const url = `${srv.url}/fly/demo-1.0.0.tar`;
      const r = await archiveUrlSource(url, { expectedArchiveChecksum: sha(plainTar) }).fetch(
        newStage(),
        ctx,
      );
      expect(r.archiveChecksum).toBe(sha(plainTar));
      const d = await archiveUrlSource(url).fetch(newStage(), ctx);
      expect(d.archiveChecksum).toBe(sha(plainTar));
    });

    it("a checksum that matches neither the bytes sent nor them decoded is a mismatch on the bytes sent", async () => {
      const sent = zlib.gzipSync(tgz);
      encoded("/bad/demo-1.0.0.tar.gz", sent, "gzip", "application/gzip");
      const expected = `sha256:${"0".repeat(64)}`;
      const e = await rejection(
        archiveUrlSource(`${srv.url}/bad/demo-1.0.0.tar.gz`, { expectedArchiveChecksum: expected }).fetch(
          newStage(),
          ctx,
        ),
      );
      expect(e).toMatchObject({ code: "EINTEGRITY", expected, found: sha(sent) });
      expect(fs.readdirSync(privateTmp)).toEqual([]);
    });

    it("refuses a small download that inflates past the download cap", async () => {
      // a "gzip in gzip" whose inner layer is 8 MiB: decoded once, it would be the archive
      const inner = Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.alloc(8 * MiB)]);
      encoded("/bomb/demo.tar.gz", zlib.gzipSync(inner), "gzip", "application/gzip");
      const capped: FetchContext = {
        ...ctx,
        policy: new OutboundPolicy({
          allowHttp: true,
          allowedPrivateHosts: ["127.0.0.1"],
          maxDownloadBytes: MiB,
        }),
      };
      const stage = newStage();
      const e = await rejection(archiveUrlSource(`${srv.url}/bomb/demo.tar.gz`).fetch(stage, capped));
      expect(e.code).toBe("ETOO_LARGE");
      expect(e.message).toBe(
        `source: ${srv.url}/bomb/demo.tar.gz (Content-Encoding: gzip) decodes to more than the ${MiB}-byte cap`,
      );
      expect(e.hint).toMatch(/raise ATTUNE_MAX_DOWNLOAD_BYTES/);
      expect(fs.readdirSync(stage)).toEqual([]);
      expect(fs.readdirSync(privateTmp)).toEqual([]);
    });

    it("keeps the bytes of an archive labelled gzip that is not gzip (a zip)", async () => {
      const z = new yazl.ZipFile();
      z.addBuffer(Buffer.from("ref: demo\nversion: 1.0.0\n"), "pack.yaml");
      z.end();
      const parts: Buffer[] = [];
      for await (const c of z.outputStream) parts.push(c as Buffer);
      const zipped = Buffer.concat(parts);
      encoded("/label/demo.zip", zipped, "gzip", "application/zip");
      const r = await archiveUrlSource(`${srv.url}/label/demo.zip`).fetch(newStage(), ctx);
      expect(r.archiveChecksum).toBe(sha(zipped));
      expect(r.details).toMatchObject({ decoded: false });
    });

    it("keeps the bytes of a coding it does not decode: extraction and the checksum judge them", async () => {
      encoded("/br/demo-1.0.0.tar.gz", tgz, "br", "application/gzip");
      const r = await archiveUrlSource(`${srv.url}/br/demo-1.0.0.tar.gz`, {
        expectedArchiveChecksum: sha(tgz),
      }).fetch(newStage(), ctx);
      expect(r.archiveChecksum).toBe(sha(tgz));
    });
  });
});
