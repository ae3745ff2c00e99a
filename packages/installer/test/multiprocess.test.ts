import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import { tmpDir } from "@attune/test-utils";
import { writePack } from "./helpers/fixtures";
import { makeHarness, packDirs, providers, type Harness } from "./helpers/harness";

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), "helpers", "child.mjs");

interface ChildOut {
  ok: boolean;
  code?: string;
  result?: { created: boolean; action: string; pack: { version: string } };
}

function child(job: unknown): Promise<ChildOut> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CHILD, JSON.stringify(job)], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (err += d));
    p.on("error", reject);
    p.on("close", () => {
      const last = out.trim().split("\n").at(-1);
      if (!last) return reject(new Error(`child printed nothing: ${err}`));
      resolve(JSON.parse(last) as ChildOut);
    });
  });
}

// Two processes (think: two API instances) on one database and one shared packs directory.
describe.each(await providers())("two processes on one %s store", (provider) => {
  let h: Harness;
  let src: ReturnType<typeof tmpDir>;
  beforeEach(async () => {
    h = await makeHarness(provider);
    await (await h.open()).close(); // create/migrate the store once, as a deployment would
    src = tmpDir("attune-src-");
  });
  afterEach(async () => {
    src.cleanup();
    await h.cleanup();
  });

  it("installing the same ref+version at once ends with exactly one install", async () => {
    const dir = writePack(path.join(src.dir, "core"), { ref: "core", version: "1.0.0" });
    const job = { options: h.options(), op: "install", request: { source: dir, method: "api" } };
    const results = await Promise.all([child(job), child(job), child(job)]);
    const ok = results.filter((r) => r.ok);
    expect(ok).toHaveLength(1);
    expect(ok[0].result).toMatchObject({ created: true, action: "install" });
    expect(results.filter((r) => !r.ok).map((r) => r.code)).toEqual(["ECONFLICT", "ECONFLICT"]);
    const inst = await h.open();
    expect((await inst.list()).totalItems).toBe(1);
    expect(packDirs(h.packsDir)).toEqual(["core-1.0.0"]);
    expect((await inst.verify("core")).ok).toBe(true);
    const hist = await inst.history("core");
    expect(hist.filter((e) => e.outcome === "success" && e.action === "install")).toHaveLength(1);
    expect(hist.filter((e) => e.action === "failed")).toHaveLength(2);
  });

  it("installing two versions at once leaves one consistent result", async () => {
    const jobs = ["1.0.0", "2.0.0"].map((version) => ({
      options: h.options(),
      op: "install",
      request: { source: writePack(path.join(src.dir, version), { ref: "core", version }), method: "api" },
    }));
    const results = await Promise.all(jobs.map(child));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(results.map((r) => r.result!.created).sort()).toEqual([false, true]);
    const inst = await h.open();
    const { pack, installation } = await inst.show("core");
    // the database and the disk agree: exactly the recorded version is on disk, and it verifies
    expect(packDirs(h.packsDir)).toEqual([`core-${pack.version}`]);
    expect(installation!.storage_path).toBe(path.join(h.packsDir, `core-${pack.version}`));
    expect((await inst.verify("core")).ok).toBe(true);
    expect(inst.lastReconcile).toEqual({
      interrupted: [],
      missingFiles: [],
      untracked: [],
      busy: [],
      failed: [],
      unnamed: [],
    });
    expect(fs.readdirSync(path.join(h.packsDir, ".journal"))).toEqual([]);
  });

  it("installs of different refs in two processes both succeed", async () => {
    const jobs = ["alpha", "beta"].map((ref) => ({
      options: h.options(),
      op: "install",
      request: { source: writePack(path.join(src.dir, ref), { ref, version: "1.0.0" }), method: "api" },
    }));
    const results = await Promise.all(jobs.map(child));
    expect(results.map((r) => r.ok)).toEqual([true, true]);
    expect(packDirs(h.packsDir)).toEqual(["alpha-1.0.0", "beta-1.0.0"]);
  });
});
