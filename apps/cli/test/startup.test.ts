import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "@jest/globals";
import { tmpDir } from "@attune/test-utils";
import { CLI_DIR, REPO_ROOT, baseEnv, runCli } from "./helpers";

// The layers `--help` and `pack checksum` must never load (DESIGN.md §10, issue 6).
const HEAVY =
  /(@prisma|prisma\/|isomorphic-git|express|better-sqlite3|node_modules\/pg\/|@attune\/db|installer)/;

describe("start-up stays small (lazy imports)", () => {
  const t = tmpDir("attune-cli-trace-");
  afterAll(() => t.cleanup());

  async function traced(args: string[]): Promise<string[]> {
    const file = path.join(t.dir, `trace-${Math.random().toString(36).slice(2)}.txt`);
    const r = await runCli(args, {
      env: baseEnv({ ATTUNE_TRACE_FILE: file, ATTUNE_HOME: t.dir }),
      nodeArgs: ["--import", path.join(CLI_DIR, "test", "fixtures", "trace-imports.mjs")],
    });
    expect(r.code).toBe(0);
    return fs.readFileSync(file, "utf8").split("\n").filter(Boolean);
  }

  it("the tracer sees the modules a command loads (it would catch a heavy import)", async () => {
    const loaded = await traced([
      "pack",
      "checksum",
      path.join(REPO_ROOT, "examples", "packs", "hello-world"),
    ]);
    expect(loaded.some((m) => /dist\/checksum-\w+\.js$/.test(m))).toBe(true);
    expect(loaded.some((m) => m.includes("pack-storage"))).toBe(true);
  });

  it.each([[["--help"]], [["pack", "--help"]], [["pack", "checksum", "examples/packs/hello-world"]]])(
    "`attune %j` loads no database, git or HTTP-server module",
    async (args) => {
      const loaded = await traced(args as string[]);
      expect(loaded.filter((m) => HEAVY.test(m))).toEqual([]);
      // bundled yargs gets a two-function stand-in (src/vendor/assert.ts): Node's costs ~6 ms
      expect(loaded.filter((m) => m === "node:assert")).toEqual([]);
    },
  );

  it("a plain `pack checksum` does not load yargs at all (shortcut.ts); other commands do", async () => {
    const yargsFiles = (loaded: string[]) =>
      loaded.filter((m) => m.startsWith("file:") && fs.readFileSync(new URL(m), "utf8").includes("yargs"));
    const hello = path.join(REPO_ROOT, "examples", "packs", "hello-world");
    expect(yargsFiles(await traced(["pack", "checksum", hello, "-q"]))).toEqual([]);
    // the same command spelled in a way the shortcut leaves alone goes through the parser
    expect(yargsFiles(await traced(["pack", "checksum", hello, "--quiet=true"])).length).toBeGreaterThan(0);
  });
});
