// The built package: pack.yaml is validated by the bundled parsers (dist/parsers.cjs: yaml and
// zod/mini in one file), with the same messages as the installed modules give when running from
// source (the rest of this suite).
import { describe, expect, it } from "@jest/globals";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

describe("dist", () => {
  it("validates pack.yaml, config.yaml and index entries, reads tar and compares versions, all from the bundles", () => {
    const script = `
      import { createRequire } from "node:module";
      import fs from "node:fs"; import os from "node:os"; import path from "node:path";
      import { execFileSync } from "node:child_process";
      import { extractArchive, parseConfig, parseIndexEntry, parseManifest } from "@attune/pack-registry";
      const work = fs.mkdtempSync(path.join(os.tmpdir(), "attune-dist-"));
      fs.mkdirSync(path.join(work, "src"));
      fs.writeFileSync(path.join(work, "src", "pack.yaml"), "ref: demo\\nversion: 1.0.0\\n");
      execFileSync("tar", ["czf", path.join(work, "p.tar.gz"), "-C", path.join(work, "src"), "pack.yaml"]);
      const extracted = await extractArchive(path.join(work, "p.tar.gz"), path.join(work, "out"));
      const roundTrip = fs.readFileSync(path.join(work, "out", "pack.yaml"), "utf8");
      fs.rmSync(work, { recursive: true });
      const withDeps = parseManifest("ref: demo\\nversion: 1.0.0\\ndependencies: ['core@>=1.2.0 <2']\\n");
      const ok = parseManifest("ref: demo\\nversion: 1.0.0\\nkeywords: [a]\\n");
      let bad = null;
      try { parseManifest("ref: demo\\nversion: 1.0.0\\ntags: 5\\n"); } catch (e) { bad = { code: e.code, message: e.message }; }
      const cfg = parseConfig({ registries: [{ name: "main", url: "https://example.com/i.json" }] });
      let badCfg = null;
      try { parseConfig({ registries: [{ name: "a", url: "u", priority: -1 }] }); } catch (e) { badCfg = e.message; }
      const sha = "sha256:" + "AB".repeat(32);
      const entry = parseIndexEntry({ ref: "demo", version: "1.0.0", install_sources: [{ type: "archive", url: "https://x.test/d.tgz", checksum: sha }] });
      let badEntry = null;
      try { parseIndexEntry({ ref: "demo", version: "1.0.0", install_sources: [{ type: "svn", url: "u" }] }); } catch (e) { badEntry = e.message; }
      const loaded = Object.keys(createRequire(import.meta.url).cache);
      console.log(JSON.stringify({
        ok: [ok.ref, ok.label, ok.tags],
        bad,
        cfg: cfg.registries,
        badCfg,
        entry: [entry.label, entry.install_sources[0].checksum.slice(7, 11), entry.contents.actions],
        tar: [extracted.type, extracted.files, roundTrip],
        deps: withDeps.dependencies,
        badEntry,
        bundled: loaded.some((f) => f.endsWith("/dist/parsers.cjs")),
        installed: loaded.filter((f) => /node_modules\\/(zod|yaml|tar|semver|minipass)\\//.test(f)).length,
        bundles: loaded.filter((f) => /\\/dist\\/(parsers|tar|semver)\\.cjs$/.test(f)).length,
      }));`;
    const out = JSON.parse(
      execFileSync(process.execPath, ["--input-type=module", "-e", script], {
        cwd: pkgDir,
        encoding: "utf8",
      }),
    );
    expect(out).toEqual({
      ok: ["demo", "demo", ["a"]],
      bad: {
        code: "EMANIFEST",
        message: expect.stringContaining('"tags": must be a list, not a number'),
      },
      cfg: [{ name: "main", url: "https://example.com/i.json", priority: 100, enabled: true }],
      badCfg:
        "config.yaml: registries[0].priority: must be a whole number from 0 to 999999999 (lower is searched first)",
      entry: ["demo", "abab", []],
      tar: ["tar.gz", 1, "ref: demo\nversion: 1.0.0\n"],
      deps: [{ ref: "core", range: ">=1.2.0 <2" }],
      badEntry: expect.stringContaining(
        "install_sources[0].type: Invalid discriminator value. Expected 'git' | 'archive'",
      ),
      bundled: true,
      installed: 0,
      bundles: 3,
    });
  });
});
