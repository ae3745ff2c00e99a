// Proof (issue 7): every case of the hostile-archive corpus, sent to a real listening API as a
// local-archive install, is refused with a 4xx naming the corpus's expected error code; the
// controls install; nothing is left in the store, and the server stays healthy.
// The full version (URLs, manifests, indexes, SSRF, tokens, bodies) is `pnpm test:stress`.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { tmpDir } from "@attune/test-utils";
import { openTestApi, type TestApi } from "./support/api";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const corpus = tmpDir("attune-api-hostile-");
execFileSync(
  process.execPath,
  [path.join(REPO, "packages/pack-registry/scripts/make-hostile-corpus.mjs"), corpus.dir],
  {
    stdio: "ignore",
  },
);
interface Case {
  name: string;
  file: string;
  expect: string | null;
}
const cases = (
  JSON.parse(fs.readFileSync(path.join(corpus.dir, "manifest.json"), "utf8")) as { cases: Case[] }
).cases;

let api: TestApi;
let base: string;
let close: () => Promise<void>;

beforeAll(async () => {
  api = await openTestApi({ localSourceRoots: [corpus.dir] });
  const server = api.app.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => new Promise((r) => server.close(() => r(undefined)));
});

afterAll(async () => {
  await close?.();
  await api?.close();
  corpus.cleanup();
});

async function install(source: string) {
  const res = await fetch(`${base}/api/v1/packs/install`, {
    method: "POST",
    headers: { ...api.auth(), "Content-Type": "application/json" },
    body: JSON.stringify({ source }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

function leftovers(): string[] {
  const found: string[] = [];
  for (const n of fs.readdirSync(api.packsDir)) {
    if (!n.startsWith(".")) found.push(n);
    else if (
      [".staging", ".journal", ".trash", ".attempts"].includes(n) &&
      fs.readdirSync(path.join(api.packsDir, n)).length
    )
      found.push(`${n}/*`);
  }
  return found;
}

describe("hostile-archive corpus through the API", () => {
  it("has cases to run", () => {
    expect(cases.filter((c) => c.expect).length).toBeGreaterThan(20);
  });

  it.each(cases.filter((c) => c.expect).map((c) => [c.file, c] as const))("refuses %s", async (_f, c) => {
    const r = await install(path.join(corpus.dir, c.file));
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    expect(r.body.code).toBe(c.expect);
    expect(String(r.body.detail).length).toBeGreaterThan(10);
    expect(JSON.stringify(r.body)).not.toContain(api.home); // no server path in the answer
    expect(leftovers()).toEqual([]);
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
  });

  it.each(cases.filter((c) => !c.expect).map((c) => [c.file]))("installs the control %s", async (file) => {
    const r = await install(path.join(corpus.dir, file));
    expect(r.status).toBe(201);
    const del = await fetch(`${base}/api/v1/packs/${r.body.data.pack.ref}`, {
      method: "DELETE",
      headers: api.auth(),
    });
    expect(del.status).toBe(200);
    expect(leftovers()).toEqual([]);
  });

  it("wrote nothing outside the store and the corpus is intact", () => {
    expect(fs.existsSync(path.join(corpus.dir, "evil.txt"))).toBe(false);
    expect(fs.existsSync(path.join(path.dirname(corpus.dir), "evil.txt"))).toBe(false);
    expect(fs.existsSync("/etc/attune-evil.txt")).toBe(false);
    expect(fs.readdirSync(corpus.dir).length).toBe(cases.length + 1); // + manifest.json
  });
});
