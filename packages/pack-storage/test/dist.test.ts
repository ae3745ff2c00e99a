// The published shape: the built package loads from a plain CommonJS script and from an ES module.
import { describe, expect, it } from "@jest/globals";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const run = (args: string[]) =>
  execFileSync(process.execPath, args, { cwd: pkgDir, encoding: "utf8" }).trim();
const probe = `
  const names = ["calculateDirectoryChecksum", "calculateFileChecksum", "verifyChecksum", "PackStorage", "AttuneError", "IntegrityError", "parseChecksum"];
  const missing = names.filter((n) => typeof m[n] !== "function");
  const e = new m.IntegrityError("sha256:a", "sha256:b");
  console.log(JSON.stringify({ missing, code: e.code, isAttune: e instanceof m.AttuneError }));`;

describe("dist", () => {
  it("works with require() from a CommonJS script", () => {
    const out = JSON.parse(run(["-e", `const m = require("./dist/index.cjs"); ${probe}`]));
    expect(out).toEqual({ missing: [], code: "EINTEGRITY", isAttune: true });
  });
  it("works with import from an ES module, and resolves through package exports", () => {
    const out = JSON.parse(
      run(["--input-type=module", "-e", `import * as m from "@attune/pack-storage"; ${probe}`]),
    );
    expect(out).toEqual({ missing: [], code: "EINTEGRITY", isAttune: true });
  });
  it("computes the DESIGN.md test vector from the CommonJS build", () => {
    const script = `
      const fs = require("fs"), os = require("os"), path = require("path");
      const d = fs.mkdtempSync(path.join(os.tmpdir(), "attune-cjs-"));
      fs.mkdirSync(path.join(d, "nested"));
      fs.writeFileSync(path.join(d, "nested/file.txt"), "fixture\\n");
      require("./dist/index.cjs").calculateDirectoryChecksum(d)
        .then((c) => console.log(c))
        .finally(() => fs.rmSync(d, { recursive: true }));`;
    expect(run(["-e", script])).toBe(
      "sha256:e9837162383488cb9b187ea585ce8963634d7d04f75abeb0c43d5456de0d6b13",
    );
  });
});
