import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import zlib from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { tmpDir } from "@attune/test-utils";
import { OutboundPolicy } from "../src/policy/outbound-policy";
import { downloadToFile } from "../src/net/download";
import { archiveUrlSource } from "../src/sources/archive-url";
import { RegistryClient } from "../src/registry-index/client";

const policy = new OutboundPolicy({ allowHttp: true, allowedPrivateHosts: ["127.0.0.1"] });

async function rejection(
  p: Promise<unknown>,
): Promise<{ code?: string; message: string; details?: Record<string, unknown> }> {
  try {
    await p;
  } catch (e) {
    return e as { code?: string; message: string };
  }
  throw new Error("expected a rejection");
}

/**
 * A raw TCP server: `GET /<declared>/<sent>[.gz]` answers Content-Length: <declared>, sends <sent>
 * bytes (of a gzip stream with `.gz`, labelled Content-Encoding: gzip) and closes: all of it in one
 * write, so the close arrives while the client still holds unread bytes.
 */
describe("a body cut short reports the bytes actually received (real server)", () => {
  const root = tmpDir("attune-cut-");
  const gz = zlib.gzipSync(Buffer.alloc(100_000, "x"), { level: 1 });
  let srv: net.Server;
  let base = "";

  beforeAll(async () => {
    srv = net.createServer((s) => {
      s.on("error", () => undefined);
      s.once("data", (req) => {
        const m = /^GET \/(\d+)\/(\d+)(\.gz)?[^ ]* /.exec(req.toString("latin1"))!;
        const [declared, sent, coded] = [Number(m[1]), Number(m[2]), m[3] !== undefined];
        const body = coded ? gz.subarray(0, sent) : Buffer.alloc(sent, 7);
        const head =
          `HTTP/1.1 200 OK\r\nContent-Length: ${declared}\r\nContent-Type: application/octet-stream\r\n` +
          (coded ? "Content-Encoding: gzip\r\n" : "") +
          "\r\n";
        s.end(Buffer.concat([Buffer.from(head, "latin1"), body]));
      });
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(srv.address() as net.AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => srv.close(() => r()));
    root.cleanup();
  });

  it.each([
    [548, 274],
    [3_001_279, 1_500_639],
  ])("to a file: declared %d, sent %d", async (declared, sent) => {
    const file = path.join(root.dir, `cut-${declared}`);
    const e = await rejection(downloadToFile(policy, `${base}/${declared}/${sent}`, file));
    expect(e.code).toBe("EFETCH");
    expect(e.message).toBe(
      `url: the download of ${base}/${declared}/${sent} was truncated: the connection closed after ${sent} of ${declared} bytes`,
    );
    expect(e.details).toMatchObject({ truncated: true, bytes: sent, declared });
    expect(fs.existsSync(file)).toBe(false);
  });

  it("in memory, and as an archive source", async () => {
    const mem = await rejection(policy.fetch(`${base}/548/274`));
    expect(mem.message).toMatch(/closed after 274 of 548 bytes$/);
    const stage = path.join(root.dir, "stage");
    fs.mkdirSync(stage);
    const src = await rejection(
      archiveUrlSource(`${base}/548/274/demo.tar.gz`).fetch(stage, {
        policy,
        registries: new RegistryClient({ registries: [], policy }),
      }),
    );
    expect(src.message).toMatch(
      /^source: the download of .* was truncated: the connection closed after 274 of 548 bytes$/,
    );
  });

  it("counts the bytes on the wire of an encoded body, not the decoded ones", async () => {
    const e = await rejection(policy.fetch(`${base}/${gz.length}/100.gz`));
    expect(e.code).toBe("EFETCH");
    expect(e.message).toMatch(new RegExp(`closed after 100 of ${gz.length} bytes$`));
  });
});
