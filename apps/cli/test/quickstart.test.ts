import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "@jest/globals";
import { tmpDir } from "@attune/test-utils";
import { ESCAPE_RE, REPO_ROOT, baseEnv } from "./helpers";

// The README's quick start is `bash scripts/quickstart.sh`: bootstrap (install + build, already
// done for this test run) and then these `pnpm attune` lines, run here exactly as written.
describe("README quick start", () => {
  const t = tmpDir("attune-cli-quickstart-");
  afterAll(() => t.cleanup());

  it("installs examples/packs/hello-world into the embedded store and shows it", () => {
    const script = fs.readFileSync(path.join(REPO_ROOT, "scripts", "quickstart.sh"), "utf8");
    const commands = script.split("\n").filter((l) => /^pnpm (--silent )?attune /.test(l));
    expect(commands.length).toBeGreaterThanOrEqual(2);
    let out = "";
    for (const cmd of commands) {
      const r = spawnSync("sh", ["-c", cmd], {
        cwd: REPO_ROOT,
        env: baseEnv({ ATTUNE_HOME: t.dir }),
        encoding: "utf8",
      });
      expect({ cmd, status: r.status, stderr: r.stderr }).toEqual({ cmd, status: 0, stderr: "" });
      out += r.stdout;
    }
    expect(out).toMatch(/^hello_world\s+1\.0\.0\s+local_directory/m);
    expect(out).toMatch(/^hello_world\s+ok\b/m);
    expect(ESCAPE_RE.test(out)).toBe(false);
    expect(fs.existsSync(path.join(t.dir, "attune.db"))).toBe(true);
  });
});
