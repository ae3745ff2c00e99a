// Proof (issue 7): every case of the hostile-archive corpus through the built CLI
// (`attune pack install <archive>`): exit 1 with one `attune: <expected code>` line and no stack
// trace; the controls install; nothing is left in the store or next to it.
// The full version (URLs, manifests, indexes, SSRF) is `pnpm test:stress`.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "@jest/globals";
import { tmpDir } from "@attune/test-utils";
import { REPO_ROOT, baseEnv, runCli } from "./helpers";

const tmp = tmpDir("attune-cli-hostile-");
const corpusDir = path.join(tmp.dir, "corpus");
execFileSync(
  process.execPath,
  [path.join(REPO_ROOT, "packages/pack-registry/scripts/make-hostile-corpus.mjs"), corpusDir],
  {
    stdio: "ignore",
  },
);
interface Case {
  file: string;
  expect: string | null;
}
const cases = (
  JSON.parse(fs.readFileSync(path.join(corpusDir, "manifest.json"), "utf8")) as { cases: Case[] }
).cases;

afterAll(() => tmp.cleanup());

/** Everything under `dir` except the store's database files. */
function tree(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((p) => !/attune\.db/.test(p)).sort();
}

/** Install `file` in a fresh home; four at a time keeps the suite short on two cores. */
async function installAll(files: Case[]) {
  const out: Array<{ c: Case; code: number | null; stderr: string; home: string }> = [];
  for (let i = 0; i < files.length; i += 4) {
    const batch = files.slice(i, i + 4).map(async (c) => {
      const home = path.join(tmp.dir, `home-${c.file}`);
      const cwd = path.join(tmp.dir, `cwd-${c.file}`);
      fs.mkdirSync(cwd, { recursive: true });
      const r = await runCli(["pack", "install", path.join(corpusDir, c.file), "-o", "json", "-q"], {
        env: baseEnv({ ATTUNE_HOME: home }),
        cwd,
      });
      return { c, code: r.code, stderr: r.stderr, home };
    });
    out.push(...(await Promise.all(batch)));
  }
  return out;
}

describe("hostile-archive corpus through the CLI", () => {
  it(
    "refuses every hostile archive with its code, installs the controls, leaves nothing behind",
    async () => {
      expect(cases.filter((c) => c.expect).length).toBeGreaterThan(20);
      const results = await installAll(cases);
      const problems: string[] = [];
      for (const r of results) {
        const line = r.stderr.trim().split("\n")[0] ?? "";
        if (r.c.expect === null) {
          if (r.code !== 0) problems.push(`${r.c.file}: control failed: ${line}`);
          continue;
        }
        if (r.code !== 1) problems.push(`${r.c.file}: exit ${r.code}`);
        if (!line.startsWith(`attune: ${r.c.expect}:`))
          problems.push(`${r.c.file}: "${line}" (expected ${r.c.expect})`);
        if (/\n\s+at .+:\d+:\d+/.test(r.stderr)) problems.push(`${r.c.file}: stack trace`);
        // only the store's own (empty) scratch dirs, and its id, may exist in the home
        const left = tree(path.join(r.home, "packs")).filter(
          (p) =>
            !/^\.(staging|journal|trash|locks|store-v1|attempts)$/.test(p) && p !== ".store-v1/.store-id",
        );
        if (left.length) problems.push(`${r.c.file}: left ${left.join(", ")}`);
        const cwd = tree(path.join(tmp.dir, `cwd-${r.c.file}`));
        if (cwd.length) problems.push(`${r.c.file}: wrote ${cwd.join(", ")} in the working directory`);
      }
      expect(problems).toEqual([]);
      expect(fs.existsSync(path.join(tmp.dir, "evil.txt"))).toBe(false);
      expect(fs.existsSync("/etc/attune-evil.txt")).toBe(false);
    },
    15 * 60_000,
  );
});
