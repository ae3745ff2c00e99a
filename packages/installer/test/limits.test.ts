import fs from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import { tmpDir } from "@attune/test-utils";
import { makeTarGz, writePack } from "./helpers/fixtures";
import { makeHarness, type Harness } from "./helpers/harness";

const actor = { identityId: null, name: "tester" };

// Operators raise or lower the size caps with ATTUNE_MAX_FILE_BYTES / ATTUNE_MAX_PACK_BYTES /
// ATTUNE_MAX_PACK_FILES or config.yaml; these prove the values reach every install.
describe("size caps from the environment and config.yaml", () => {
  let h: Harness;
  let src: ReturnType<typeof tmpDir>;
  let dir: string;
  beforeEach(async () => {
    h = await makeHarness("sqlite");
    src = tmpDir("attune-src-");
    dir = writePack(path.join(src.dir, "capped"), {
      ref: "capped",
      version: "1.0.0",
      files: { "assets/blob.bin": "x".repeat(5000) },
    });
  });
  afterEach(async () => {
    src.cleanup();
    await h.cleanup();
  });

  const rejected = async (p: Promise<unknown>) =>
    p.then(
      () => null,
      (e: { code?: string }) => e,
    );

  it("ATTUNE_MAX_FILE_BYTES refuses a bigger file (directory and archive), leaving nothing behind", async () => {
    const inst = await h.open({ env: { ...h.options().env, ATTUNE_MAX_FILE_BYTES: "4096" } });
    const archive = makeTarGz(dir, path.join(src.dir, "capped.tar.gz"));
    for (const source of [dir, archive]) {
      const e = await rejected(inst.install({ source, method: "cli" }, actor));
      expect(e).toMatchObject({ code: "ETOO_LARGE" });
      expect(JSON.stringify(e)).toContain("assets/blob.bin");
    }
    expect((await inst.list()).totalItems).toBe(0);
    expect(fs.readdirSync(h.packsDir).filter((n) => !n.startsWith("."))).toEqual([]);
    // the same pack installs under the defaults
    const free = await h.open();
    expect((await free.install({ source: dir, method: "cli" }, actor)).pack.ref).toBe("capped");
  });

  it("config.yaml max_pack_files applies when the environment says nothing", async () => {
    fs.writeFileSync(path.join(h.home, "config.yaml"), "max_pack_files: 2\n");
    const inst = await h.open();
    expect(await rejected(inst.install({ source: dir, method: "cli" }, actor))).toMatchObject({
      code: "ETOO_LARGE",
    });
  });

  it("a malformed cap stops the installer from opening with ECONFIG naming the variable", async () => {
    const e = await rejected(h.open({ env: { ...h.options().env, ATTUNE_MAX_PACK_BYTES: "1GiB" } }));
    expect(e).toMatchObject({ code: "ECONFIG", details: { field: "ATTUNE_MAX_PACK_BYTES" } });
  });

  it("every bad setting is named at once (environment and config.yaml), and nothing is opened or made", async () => {
    fs.writeFileSync(path.join(h.home, "config.yaml"), "max_pack_files: lots\n");
    const e = (await rejected(
      h.open({
        env: {
          ...h.options().env,
          ATTUNE_MAX_PACK_BYTES: "1GiB",
          ATTUNE_ALLOW_HTTP: "maybe",
          ATTUNE_REGISTRIES: "no-equals-sign",
        },
      }),
    )) as { code: string; details: { problems: Array<{ field: string }> } };
    expect(e.code).toBe("ECONFIG");
    expect(e.details.problems.map((p) => p.field)).toEqual([
      "max_pack_files",
      "ATTUNE_ALLOW_HTTP",
      "ATTUNE_REGISTRIES",
      "ATTUNE_MAX_PACK_BYTES",
    ]);
    expect(fs.existsSync(h.packsDir)).toBe(false);
    expect(fs.readdirSync(h.home).sort()).toEqual(["config.yaml"]);
  });
});
