// The published shape: the built package loads from a plain CommonJS script and from an ES module.
import { describe, expect, it } from "@jest/globals";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
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
  it("runs the reader thread from the built package, and exits cleanly when it dies mid-job", () => {
    // 1,500 files: over the helper's threshold; the helper is killed while the checksum runs, and
    // the process must still finish and print the right checksum (a pending Atomics.waitAsync does
    // not keep Node alive: a bare wait would end the process with the await unsettled)
    const script = `
      import fs from "node:fs"; import os from "node:os"; import path from "node:path";
      import * as m from "@attune/pack-storage";
      const d = fs.mkdtempSync(path.join(os.tmpdir(), "attune-dist-helper-"));
      for (let i = 0; i < 1500; i++) fs.writeFileSync(path.join(d, "f" + i), "file " + i + "\\n");
      try {
        const serial = await m.calculateDirectoryChecksum(d); // starts and boots the helper
        await m.readerThreadStats().idle;
        const before = m.readerThreadStats().filesRead;
        const again = await m.calculateDirectoryChecksum(d);
        await m.readerThreadStats().idle;
        const helped = m.readerThreadStats().filesRead - before;
        let kill;
        const killed = await m.calculateDirectoryChecksum(d, { onProgress: (p) => {
          if (p.files >= 256 && !kill) kill = m.stopReaderThread();
        } });
        await kill;
        console.log(JSON.stringify({ same: serial === again && again === killed, helped: helped > 0 }));
      } finally { fs.rmSync(d, { recursive: true }); }`;
    const out = JSON.parse(run(["--input-type=module", "-e", script]));
    expect(out).toEqual({ same: true, helped: true });
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

  // procfs answers ENOENT to mkdir under an existing directory: Node's recursive mkdir then loops
  // for ever at full CPU (ATTUNE_HOME=/proc/attune hung the CLI). A child process with a time
  // limit, so a regression fails here instead of hanging the suite.
  it.each(["makeDirsSync", "makeDirs"])(
    "%s fails at once with ENOENT where /proc refuses a directory",
    (fn) => {
      if (!fs.existsSync("/proc/self")) return; // not Linux: nothing to check
      const script = `import * as m from "@attune/pack-storage";
      try { await m.${fn}("/proc/attune-make-dirs-test/x", 0o700); console.log("created"); }
      catch (e) { console.log(e.code); }`;
      const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
        cwd: pkgDir,
        encoding: "utf8",
        timeout: 20_000,
      });
      expect(r.signal).toBeNull(); // SIGTERM from the time limit: the endless loop is back
      expect(r.stdout.trim()).toBe("ENOENT");
    },
  );
});
