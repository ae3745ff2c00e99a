import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import * as tar from "tar";
import yazl from "yazl";
import { serveRoutes, tmpDir, writeTree, type RouteServer } from "@attune/test-utils";
import { OutboundPolicy } from "../src/policy/outbound-policy";
import { RegistryClient } from "../src/registry-index/client";
import { archiveUrlSource } from "../src/sources/archive-url";
import type { FetchContext } from "../src/sources/types";

const policy = new OutboundPolicy({ allowHttp: true, allowedPrivateHosts: ["127.0.0.1"] });
const ctx: FetchContext = { policy, registries: new RegistryClient({ registries: [], policy }) };
/** `ctx` with a download cap of `bytes` (loopback allowed, as in `policy`). */
const withDownloadCap = (bytes: number): FetchContext => ({
  ...ctx,
  policy: new OutboundPolicy({
    allowHttp: true,
    allowedPrivateHosts: ["127.0.0.1"],
    maxDownloadBytes: bytes,
  }),
});
const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

async function rejection(
  p: Promise<unknown>,
): Promise<{ code?: string; details?: Record<string, unknown>; message: string }> {
  try {
    await p;
  } catch (e) {
    return e as { code: string; message: string };
  }
  throw new Error("expected a rejection");
}

async function tarGz(dir: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of tar.c({ gzip: true, cwd: dir, portable: true }, fs.readdirSync(dir)))
    chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function zip(files: Record<string, string>): Promise<Buffer> {
  const z = new yazl.ZipFile();
  for (const [n, c] of Object.entries(files)) z.addBuffer(Buffer.from(c), n);
  z.end();
  const chunks: Buffer[] = [];
  for await (const c of z.outputStream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** yazl refuses "../" names, so write a same-length placeholder and patch the bytes (zip-slip). */
async function zipSlip(): Promise<Buffer> {
  const buf = await zip({ "zz/evil.txt": "x" });
  return Buffer.from(buf.toString("latin1").replaceAll("zz/evil.txt", "../evil.txt"), "latin1");
}

describe("archive URL source (real HTTP server)", () => {
  const root = tmpDir("attune-aurl-");
  const privateTmp = path.join(root.dir, "tmp");
  let srv: RouteServer;
  let tgz: Buffer;
  let stage: string;
  let n = 0;
  const newStage = () => {
    stage = path.join(root.dir, `stage-${n++}`);
    fs.mkdirSync(stage);
    return stage;
  };
  const oldTmp = process.env.TMPDIR;

  beforeAll(async () => {
    fs.mkdirSync(privateTmp);
    process.env.TMPDIR = privateTmp; // so the test can see that the download's temp file is gone
    const src = path.join(root.dir, "src");
    writeTree(src, { "demo/pack.yaml": "ref: demo\nversion: 1.0.0\n", "demo/actions/a.sh": "echo hi\n" });
    fs.chmodSync(path.join(src, "demo/actions/a.sh"), 0o755);
    tgz = await tarGz(src);
    srv = await serveRoutes();
    srv.file("/demo-1.0.0.tar.gz", tgz, "application/gzip");
    srv.file("/demo.zip", await zip({ "pack.yaml": "ref: demo\nversion: 1.0.0\n" }), "application/zip");
    srv.file("/page.tar.gz", "<html>login</html>", "text/html; charset=utf-8");
    srv.file("/api.tar.gz", '{"error":"no"}', "application/json");
    srv.file("/fake.tar.gz", Buffer.alloc(600, 7), "application/octet-stream");
    srv.file("/slip.zip", await zipSlip(), "application/zip");
    srv.route("/truncated.tar.gz", (_q, r) => {
      r.writeHead(200, { "content-length": String(tgz.length) });
      r.write(tgz.subarray(0, 20));
      setTimeout(() => r.socket?.destroy(), 20);
    });
    srv.route("/slow.tar.gz", (_q, r) => {
      r.writeHead(200, { "content-type": "application/gzip" });
      r.write(tgz.subarray(0, 10)); // then silence
    });
    srv.route("/forbidden.tar.gz", (_q, r) => {
      r.writeHead(403);
      r.end();
    });
    // a release link redirecting to a presigned URL that is refused: the signature is a secret
    srv.route("/to-signed.tar.gz", (_q, r) => {
      r.writeHead(302, {
        location: `${srv.url}/signed.tar.gz?X-Amz-Credential=AKIASECRET&X-Amz-Signature=SIGSECRET`,
      });
      r.end();
    });
    srv.route("/signed.tar.gz", (_q, r) => {
      r.writeHead(403);
      r.end();
    });
    // a status phrase with terminal escapes in it
    srv.route("/rude.tar.gz", (_q, r) => {
      // written raw: Node's server refuses to send such a phrase, its client reads it
      r.socket?.end("HTTP/1.1 404 Nope\x1b[31mRED\x1b[0m\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    });
    // a server that echoes the request target, signed query and all, in its status phrase
    srv.route("/echo.tar.gz", (_q, r) => {
      r.socket?.end(
        "HTTP/1.1 403 Denied /echo.tar.gz?X-Amz-Credential=AKIASECRET&sig=SIGSECRET\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
      );
    });
    srv.route("/redirect.tar.gz", (_q, r) => {
      r.writeHead(302, { location: "http://10.0.0.1/demo.tar.gz" });
      r.end();
    });
  });
  afterAll(async () => {
    process.env.TMPDIR = oldTmp;
    await srv.close();
    root.cleanup();
  });

  it("downloads, hashes the bytes, extracts with the exec bit, and removes the temp file", async () => {
    const r = await archiveUrlSource(`${srv.url}/demo-1.0.0.tar.gz`).fetch(newStage(), ctx);
    expect(r).toMatchObject({ sourceType: "archive", archiveChecksum: sha(tgz), resolvedCommit: null });
    expect(fs.readFileSync(path.join(stage, "demo/pack.yaml"), "utf8")).toContain("ref: demo");
    expect(fs.statSync(path.join(stage, "demo/actions/a.sh")).mode & 0o111).not.toBe(0);
    expect(fs.readdirSync(privateTmp)).toEqual([]);
  });

  it("reports download and extraction progress", async () => {
    const phases = new Set<string>();
    let last = 0;
    await archiveUrlSource(`${srv.url}/demo-1.0.0.tar.gz`).fetch(newStage(), {
      ...ctx,
      onProgress: (p) => {
        phases.add(p.phase);
        if (p.phase === "fetch") last = p.bytes ?? 0;
      },
    });
    expect(phases.has("fetch")).toBe(true);
    expect(last).toBe(tgz.length);
  });

  it("extracts a zip", async () => {
    await archiveUrlSource(`${srv.url}/demo.zip`).fetch(newStage(), ctx);
    expect(fs.existsSync(path.join(stage, "pack.yaml"))).toBe(true);
  });

  it.each([
    ["page.tar.gz", "EFETCH", /text\/html/],
    ["api.tar.gz", "EFETCH", /application\/json/],
    ["missing.tar.gz", "EFETCH", /404/],
    ["truncated.tar.gz", "EFETCH", /truncated|aborted|closed/],
    ["fake.tar.gz", "EUNSAFE_ARCHIVE", /gzip|header/],
    ["slip.zip", "EUNSAFE_ARCHIVE", /evil/],
    ["redirect.tar.gz", "EPOLICY", /10\.0\.0\.1/],
  ])("refuses %s with %s, leaving staging and temp empty", async (name, code, msg) => {
    const e = await rejection(archiveUrlSource(`${srv.url}/${name}`).fetch(newStage(), ctx));
    expect(e.code).toBe(code);
    expect(e.message).toMatch(msg);
    expect(fs.readdirSync(stage)).toEqual([]);
    expect(fs.readdirSync(privateTmp)).toEqual([]);
  });

  it("an https URL of a plain-http port says so, without OpenSSL's internals", async () => {
    const e = (await rejection(
      archiveUrlSource(`${srv.url.replace(/^http:/, "https:")}/demo.tar.gz`).fetch(newStage(), ctx),
    )) as { code?: string; message: string; hint?: string };
    expect(e.code).toBe("EFETCH");
    expect(e.message).toMatch(/failed: TLS handshake failed: wrong version number$/);
    expect(e.message).not.toMatch(/deps\/openssl|ssl3_/);
    expect(e.hint).toBe(
      "the server does not speak TLS on that port: check https:// against http:// and the port",
    );
  });

  it("enforces the size cap and the timeout", async () => {
    const small = withDownloadCap(50);
    expect(
      (await rejection(archiveUrlSource(`${srv.url}/demo-1.0.0.tar.gz`).fetch(newStage(), small))).code,
    ).toBe("ETOO_LARGE");
    const quick = {
      ...ctx,
      policy: new OutboundPolicy({ allowHttp: true, allowedPrivateHosts: ["127.0.0.1"], timeoutMs: 300 }),
    };
    expect((await rejection(archiveUrlSource(`${srv.url}/slow.tar.gz`).fetch(newStage(), quick))).code).toBe(
      "ETIMEOUT",
    );
    expect(fs.readdirSync(privateTmp)).toEqual([]);
  });

  it("names the setting that raises each cap, and the value configured", async () => {
    const small = withDownloadCap(50);
    const dl = (await rejection(
      archiveUrlSource(`${srv.url}/demo-1.0.0.tar.gz`).fetch(newStage(), small),
    )) as {
      code?: string;
      message: string;
      hint?: string;
    };
    expect(dl.code).toBe("ETOO_LARGE");
    expect(dl.message).toContain("over the 50-byte cap");
    expect(dl.hint).toMatch(/raise ATTUNE_MAX_DOWNLOAD_BYTES \(max_download_bytes in config\.yaml\)/);
    const cases: [Partial<NonNullable<FetchContext["limits"]>>, RegExp, RegExp][] = [
      [
        { maxEntryBytes: 3 },
        /cap 3 per entry/,
        /raise ATTUNE_MAX_FILE_BYTES \(max_file_bytes in config\.yaml\)/,
      ],
      [{ maxTotalBytes: 10 }, /10 bytes/, /raise ATTUNE_MAX_PACK_BYTES \(max_pack_bytes in config\.yaml\)/],
      [
        { maxEntries: 2 },
        /more than 2 entries/,
        /raise ATTUNE_MAX_PACK_FILES \(max_pack_files in config\.yaml\)/,
      ],
    ];
    for (const [limits, msg, hint] of cases) {
      const e = (await rejection(
        archiveUrlSource(`${srv.url}/demo-1.0.0.tar.gz`).fetch(newStage(), { ...ctx, limits }),
      )) as { code?: string; message: string; hint?: string };
      expect(e.code).toBe("ETOO_LARGE");
      expect(e.message).toMatch(msg);
      expect(e.hint).toMatch(hint);
    }
  });

  it("a 403 from a direct URL hints at the URL and access, from a registry's download at its headers", async () => {
    const direct = (await rejection(
      archiveUrlSource(`${srv.url}/forbidden.tar.gz`).fetch(newStage(), ctx),
    )) as {
      code?: string;
      hint?: string;
    };
    expect(direct.code).toBe("EFETCH");
    expect(direct.hint).toMatch(/check the URL and that it is open to you/);
    expect(direct.hint).not.toMatch(/configure/);
    const viaRegistry = (await rejection(
      archiveUrlSource(`${srv.url}/forbidden.tar.gz`, { registryName: "corp" }).fetch(newStage(), ctx),
    )) as { code?: string; hint?: string };
    expect(viaRegistry.hint).toMatch(/configure headers for registry "corp" in config\.yaml/);
  });

  it("never quotes a secret query value of the URL it was given or redirected to, nor a raw escape", async () => {
    const failures = [
      ["/nothing-here.tar.gz?token=TOKSECRET", "EFETCH"], // 404
      ["/page.tar.gz?token=TOKSECRET", "EFETCH"], // text/html
      ["/to-signed.tar.gz", "EFETCH"], // 403 at the presigned URL
      ["/bad%zz.tar.gz?token=TOKSECRET", "EFETCH"], // malformed percent-encoding, 404
      ["/echo.tar.gz?token=TOKSECRET", "EFETCH"], // the status phrase repeats the signed query
    ] as const;
    for (const [p, code] of failures) {
      const e = (await rejection(archiveUrlSource(`${srv.url}${p}`).fetch(newStage(), ctx))) as {
        code?: string;
        message: string;
        hint?: string;
        details?: Record<string, unknown>;
      };
      expect({ p, code: e.code }).toEqual({ p, code });
      const shown = JSON.stringify([e.message, e.hint ?? "", e.details ?? {}]);
      expect(shown).not.toMatch(/TOKSECRET|SIGSECRET|AKIASECRET/);
      expect(shown).toMatch(/token=\*\*\*|X-Amz-Signature=\*\*\*/);
    }
    const rude = await rejection(archiveUrlSource(`${srv.url}/rude.tar.gz`).fetch(newStage(), ctx));
    expect(rude.message).toContain("answered HTTP 404 Nope\\x1b[31mRED\\x1b[0m");
    expect(rude.message).not.toContain("\x1b");
  });

  it("aborts with EINTEGRITY (expected and found) when the bytes differ from the promised checksum", async () => {
    const expected = `sha256:${"0".repeat(64)}`;
    const e = (await rejection(
      archiveUrlSource(`${srv.url}/demo-1.0.0.tar.gz`, { expectedArchiveChecksum: expected }).fetch(
        newStage(),
        ctx,
      ),
    )) as { code?: string; expected?: string; found?: string };
    expect(e).toMatchObject({ code: "EINTEGRITY", expected, found: sha(tgz) });
    expect(fs.readdirSync(stage)).toEqual([]);
    const ok = await archiveUrlSource(`${srv.url}/demo-1.0.0.tar.gz`, {
      expectedArchiveChecksum: sha(tgz).toUpperCase().replace("SHA256", "sha256"),
    }).fetch(newStage(), ctx);
    expect(ok.archiveChecksum).toBe(sha(tgz));
  });
});
