// Atomicity under a real crash (SIGKILL of a child mid-install) and under two processes racing.
// The children run the built package (dist/), as a separate program would.
import { beforeAll, describe, expect, it } from "@jest/globals";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { calculateDirectoryChecksum, PackStorage } from "../src/index";
import { bytes, perTestCleanup, tmp, writeTree } from "./helpers";

const here = path.dirname(fileURLToPath(import.meta.url));
const fixture = (name: string) => path.join(here, "fixtures", name);
/** the content dirs in the store (its own files, such as its id, start with ".") */
const contentDirs = (packsDir: string) =>
  fs.readdirSync(path.join(packsDir, ".store-v1")).filter((n) => !n.startsWith("."));
/** the store dirs marked retired by a replace (kept for readers during the grace period) */
const retiredMarks = (packsDir: string) =>
  fs
    .readdirSync(path.join(packsDir, ".store-v1"))
    .filter((n) => n.startsWith(".retired~"))
    .map((n) => n.slice(".retired~".length));

beforeAll(() => {
  if (!fs.existsSync(path.join(here, "../dist/index.js")))
    throw new Error("build the package first (pnpm build)");
});
const perTest = perTestCleanup();

function trees(root: string) {
  const a: Record<string, Buffer> = {};
  const b: Record<string, Buffer> = {};
  for (let i = 0; i < 60; i++) {
    a[`d${i % 5}/a${i}.txt`] = bytes(2000 + i, i + 1);
    b[`e${i % 7}/b${i}.txt`] = bytes(3000 + i, i + 100);
  }
  return { treeA: writeTree(path.join(root, "A"), a), treeB: writeTree(path.join(root, "B"), b) };
}

function lineFrom(child: ChildProcess, want: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = "";
    child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      if (buf.split("\n").includes(want)) resolve();
    });
    child.once("exit", (code) => reject(new Error(`child exited (${code}) before "${want}": ${buf}`)));
  });
}
const exited = (child: ChildProcess) =>
  new Promise<number | null>((r) =>
    child.exitCode !== null ? r(child.exitCode) : child.once("exit", (c) => r(c)),
  );

describe("crash safety", () => {
  it("a child killed mid-install leaves the whole old or whole new tree; init() removes the rest", async () => {
    const t = tmp();
    perTest.later(t.cleanup);
    const { treeA, treeB } = trees(t.dir);
    const sums = [await calculateDirectoryChecksum(treeA), await calculateDirectoryChecksum(treeB)];
    const packsDir = path.join(t.dir, "packs");
    const final = path.join(packsDir, "crashy-1.0.0");
    for (let round = 0; round < 6; round++) {
      const child = spawn(process.execPath, [fixture("install-loop.mjs"), packsDir, treeA, treeB], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      await lineFrom(child, "ready");
      // while the child keeps replacing the tree, the path must always resolve to a directory
      for (let i = 0; i < 50 + round * 40; i++) {
        expect(fs.statSync(final).isDirectory()).toBe(true);
        await new Promise((r) => setImmediate(r));
      }
      child.kill("SIGKILL");
      await exited(child);
      const storage = new PackStorage({ packsDir });
      expect(sums).toContain(
        await calculateDirectoryChecksum(await storage.resolveContentDir("crashy", "1.0.0")),
      );
      await storage.init();
      expect(fs.readdirSync(path.join(packsDir, ".staging"))).toEqual([]);
      expect(fs.readdirSync(path.join(packsDir, ".trash"))).toEqual([]);
      // what is left besides the linked store dir was replaced recently: retired, kept for readers
      const linked = path.basename(await storage.resolveContentDir("crashy", "1.0.0"));
      const marks = retiredMarks(packsDir);
      for (const name of contentDirs(packsDir)) if (name !== linked) expect(marks).toContain(name);
      // once the grace period has passed (here: none), a start-up removes them too
      await new PackStorage({ packsDir, retiredGraceMs: 0 }).init();
      expect(contentDirs(packsDir)).toEqual([linked]);
      // a kill between a replace's mark and its swap leaves the linked dir marked: inert, never swept
      expect(retiredMarks(packsDir).filter((n) => n !== linked)).toEqual([]);
      expect(await storage.listInstalled()).toEqual([{ ref: "crashy", version: "1.0.0", path: final }]);
    }
  });
});

describe("readers during replaces by another process", () => {
  it("a reader that resolved the stable path before a replace still finds that whole tree", async () => {
    const t = tmp();
    perTest.later(t.cleanup);
    const { treeA, treeB } = trees(t.dir);
    const sums = [await calculateDirectoryChecksum(treeA), await calculateDirectoryChecksum(treeB)];
    const packsDir = path.join(t.dir, "packs");
    const final = path.join(packsDir, "crashy-1.0.0");
    const child = spawn(process.execPath, [fixture("install-loop.mjs"), packsDir, treeA, treeB], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    perTest.later(() => child.kill("SIGKILL"));
    await lineFrom(child, "ready");
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const held = fs.realpathSync(final);
      seen.add(held);
      await new Promise((r) => setTimeout(r, 10)); // meanwhile the child replaces the tree
      expect(sums).toContain(await calculateDirectoryChecksum(held));
    }
    expect(seen.size).toBeGreaterThan(10); // the tree was indeed replaced under the reader, often
    child.kill("SIGKILL");
    await exited(child);
  });
});

describe("two processes installing the same ref+version", () => {
  async function race(packsDir: string, treeA: string, treeB: string, mode: string) {
    const children = [treeA, treeB].map((tree) =>
      spawn(process.execPath, [fixture("install-once.mjs"), packsDir, tree, mode], {
        stdio: ["pipe", "pipe", "inherit"],
      }),
    );
    const outputs = children.map((c) => {
      let out = "";
      c.stdout!.on("data", (d: Buffer) => (out += d.toString()));
      return () => out;
    });
    await Promise.all(children.map((c) => lineFrom(c, "staged")));
    for (const c of children) c.stdin!.write("go\n");
    const codes = await Promise.all(children.map(exited));
    return { codes, outputs: outputs.map((o) => o().trim().split("\n").pop()) };
  }

  it("without replace: exactly one wins, the other gets ECONFLICT, one whole tree remains", async () => {
    const t = tmp();
    perTest.later(t.cleanup);
    const { treeA, treeB } = trees(t.dir);
    const packsDir = path.join(t.dir, "packs");
    const { codes, outputs } = await race(packsDir, treeA, treeB, "no-replace");
    expect([...codes].sort()).toEqual([0, 3]);
    expect(outputs).toContain("ECONFLICT");
    const winner = codes[0] === 0 ? treeA : treeB;
    const storage = new PackStorage({ packsDir });
    expect(await calculateDirectoryChecksum(await storage.resolveContentDir("racy", "2.0.0"))).toBe(
      await calculateDirectoryChecksum(winner),
    );
    expect(contentDirs(packsDir)).toHaveLength(1);
  });

  it("with replace: both succeed and one whole tree remains; init() leaves one store dir", async () => {
    const t = tmp();
    perTest.later(t.cleanup);
    const { treeA, treeB } = trees(t.dir);
    const packsDir = path.join(t.dir, "packs");
    const sums = [await calculateDirectoryChecksum(treeA), await calculateDirectoryChecksum(treeB)];
    const { codes } = await race(packsDir, treeA, treeB, "replace");
    expect(codes).toEqual([0, 0]);
    const storage = new PackStorage({ packsDir, retiredGraceMs: 0 });
    expect(sums).toContain(
      await calculateDirectoryChecksum(await storage.resolveContentDir("racy", "2.0.0")),
    );
    await storage.init();
    expect(contentDirs(packsDir)).toHaveLength(1);
    expect(retiredMarks(packsDir)).toEqual([]);
  });
});
