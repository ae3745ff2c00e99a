import { describe, expect, it, jest } from "@jest/globals";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {
  calculateDirectoryChecksum,
  isValidVersion,
  PackStorage,
  RETIRED_GRACE_MS,
  validateRef,
  validateVersion,
} from "../src/index";
import { perTestCleanup, rejection, tmp, writeTree } from "./helpers";

const perTest = perTestCleanup();
async function setup(opts: { retiredGraceMs?: number } = {}) {
  const t = tmp();
  perTest.later(t.cleanup);
  const storage = new PackStorage({ packsDir: path.join(t.dir, "packs"), ...opts });
  await storage.init();
  const stage = async (files: Record<string, string>) => writeTree(await storage.createStagingDir(), files);
  return { storage, root: t.dir, stage, packsDir: storage.packsDir };
}
// the store's own files (its id) start with "."; content dirs, staging and trash entries never do
const internals = (packsDir: string, dir: string) =>
  fs.readdirSync(path.join(packsDir, dir)).filter((n) => !n.startsWith("."));

describe("ref and version validation", () => {
  it.each(["core", "my_pack-2", "a1"])("accepts ref %j", (ref) => expect(validateRef(ref)).toBe(ref));
  it.each([
    "",
    "a",
    "Core",
    "1pack",
    "-x",
    "../etc",
    "a/b",
    "a.b",
    "pack ",
    "ünï",
    "x".repeat(65),
    ".store-v1",
  ])("rejects ref %j", (ref) =>
    expect(() => validateRef(ref)).toThrow(expect.objectContaining({ code: "EINVALID_REF" })),
  );
  it("quotes a refused ref with controls and bidirectional marks escaped, never raw", () => {
    for (const [ref, shown] of [
      ["a\u202eb", "a\\u202eb"],
      ["a\u200fb", "a\\u200fb"],
      ["a\u2066b", "a\\u2066b"],
      ["a\u0085b", "a\\u0085b"],
      ["a\u001bb", "a\\u001bb"],
    ]) {
      let message = "";
      try {
        validateRef(ref);
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toBe(`ref "${shown}" is not a valid pack ref`);
      expect(message).not.toMatch(/[\u0080-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069\u0000-\u001f]/);
    }
  });
  it.each(["1.0.0", "0.0.1-rc.1", "1.2.3-alpha+build.5", "10.20.30"])("accepts version %j", (v) =>
    expect(validateVersion(v)).toBe(v),
  );
  it.each([
    "",
    "v1.0.0",
    "1.0",
    "^1.0.0",
    "~1.2.3",
    "1.0.0 - 2.0.0",
    "01.0.0",
    "1.0.0/../../x",
    "1.0.0-",
    "*",
    "latest",
  ])("rejects version %j", (v) =>
    expect(() => validateVersion(v)).toThrow(expect.objectContaining({ code: "EINVALID_VERSION" })),
  );
  it("refuses a MAJOR, MINOR or PATCH beyond what semver holds (9007199254740991), saying it is too large", () => {
    for (const v of [
      "9007199254740991.9007199254740991.9007199254740991",
      "1.0.0-99999999999999999999",
      "1.0.0-rc.9007199254740992+99999999999999999999",
    ])
      expect(validateVersion(v)).toBe(v);
    for (const [v, part] of [
      ["99999999999999999999.0.0", "major"],
      ["9007199254740992.0.0", "major"],
      ["0.9007199254740993.0", "minor"],
      ["1.2.90071992547409910-rc.1", "patch"],
    ]) {
      expect(() => validateVersion(v)).toThrow(
        expect.objectContaining({
          code: "EINVALID_VERSION",
          message: `version "${v}" has a ${part} number that is too large (at most 9007199254740991)`,
          details: expect.objectContaining({ field: "version", reason: "number" }),
        }),
      );
      expect(isValidVersion(v)).toBe(false);
    }
    expect(() => validateVersion(`1.0.0-${"a".repeat(123)}`)).toThrow(
      /is too long \(at most 128 characters\)$/,
    );
  });

  it("validates before building any path", async () => {
    const { storage } = await setup();
    expect(() => storage.getPackPath("../../etc")).toThrow(expect.objectContaining({ code: "EINVALID_REF" }));
    expect(() => storage.getPackPath("core", "../../x")).toThrow(
      expect.objectContaining({ code: "EINVALID_VERSION" }),
    );
    expect((await rejection(storage.installPack("/tmp", "core", "1.0"))).code).toBe("EINVALID_VERSION");
    expect((await rejection(storage.uninstallPack("../x"))).code).toBe("EINVALID_REF");
    expect((await rejection(storage.isInstalled("ok", "v1"))).code).toBe("EINVALID_VERSION");
  });
});

describe("install, list, resolve, uninstall", () => {
  it("installs a staged tree atomically under <ref>-<version> and hashes the same", async () => {
    const { storage, stage, packsDir } = await setup();
    const staged = await stage({ "pack.yaml": "ref: core\n", "actions/a.py": "print(1)\n" });
    expect(fs.statSync(staged).mode & 0o777).toBe(0o700);
    const before = await calculateDirectoryChecksum(staged);
    const final = await storage.installPack(staged, "core", "1.0.0");
    expect(final).toBe(path.join(packsDir, "core-1.0.0"));
    expect(storage.getPackPath("core", "1.0.0")).toBe(final);
    expect(fs.existsSync(staged)).toBe(false); // moved, not copied
    expect(fs.readFileSync(path.join(final, "actions/a.py"), "utf8")).toBe("print(1)\n");
    const content = await storage.resolveContentDir("core", "1.0.0");
    expect(await calculateDirectoryChecksum(content)).toBe(before);
    expect(fs.statSync(content).mode & 0o777).toBe(0o755);
    expect(await storage.isInstalled("core", "1.0.0")).toBe(true);
    expect(await storage.isInstalled("core")).toBe(true);
    expect(await storage.isInstalled("core", "1.0.1")).toBe(false);
    expect(await storage.isInstalled("other")).toBe(false);
  });

  it("refuses to overwrite without replace (ECONFLICT) and leaves no garbage", async () => {
    const { storage, stage, packsDir } = await setup();
    await storage.installPack(await stage({ v: "1" }), "core", "1.0.0");
    const err = await rejection(storage.installPack(await stage({ v: "2" }), "core", "1.0.0"));
    expect(err.code).toBe("ECONFLICT");
    expect(fs.readFileSync(path.join(packsDir, "core-1.0.0/v"), "utf8")).toBe("1");
    expect(internals(packsDir, ".store-v1")).toHaveLength(1);
  });

  it("replaces with replace: new tree in place, old content dir gone (grace period 0)", async () => {
    const { storage, stage, packsDir } = await setup({ retiredGraceMs: 0 });
    await storage.installPack(await stage({ v: "1", old: "o" }), "core", "1.0.0");
    const oldDir = await storage.resolveContentDir("core", "1.0.0");
    await storage.installPack(await stage({ v: "2" }), "core", "1.0.0", { replace: true });
    expect(fs.readFileSync(path.join(packsDir, "core-1.0.0/v"), "utf8")).toBe("2");
    expect(fs.existsSync(path.join(packsDir, "core-1.0.0/old"))).toBe(false);
    expect(fs.existsSync(oldDir)).toBe(false); // the install's own sweep removed it
    expect(fs.readdirSync(path.join(packsDir, ".store-v1")).sort()).toEqual([
      ".store-id",
      path.basename(await storage.resolveContentDir("core", "1.0.0")),
    ]);
    expect(internals(packsDir, ".trash")).toHaveLength(0);
  });

  it("keeps several versions side by side and lists them sorted, with legacy installs", async () => {
    const { storage, stage, packsDir } = await setup();
    await storage.installPack(await stage({ v: "2" }), "core", "2.0.0");
    await storage.installPack(await stage({ v: "1" }), "core", "1.0.0-rc.1");
    await storage.installPack(await stage({ v: "x" }), "pack-2", "0.1.0");
    writeTree(path.join(packsDir, "legacy_pack"), { "pack.yaml": "ref: legacy_pack\n" });
    // not installs: foreign names, a dangling link, a link we did not make, a plain file
    writeTree(path.join(packsDir, "Not_A_Ref"), { f: "x" });
    fs.writeFileSync(path.join(packsDir, "notes.txt"), "x");
    fs.symlinkSync(".store-v1/missing", path.join(packsDir, "ghost-1.0.0"));
    fs.symlinkSync("/etc", path.join(packsDir, "etc-1.0.0"));
    const list = await storage.listInstalled();
    expect(list).toEqual([
      { ref: "core", version: "1.0.0-rc.1", path: path.join(packsDir, "core-1.0.0-rc.1") },
      { ref: "core", version: "2.0.0", path: path.join(packsDir, "core-2.0.0") },
      { ref: "legacy_pack", version: null, path: path.join(packsDir, "legacy_pack") },
      { ref: "pack-2", version: "0.1.0", path: path.join(packsDir, "pack-2-0.1.0") },
    ]);
    expect(await storage.isInstalled("legacy_pack")).toBe(true);
    expect(await storage.resolveContentDir("legacy_pack")).toBe(path.join(packsDir, "legacy_pack"));
    expect(storage.getPackPath("legacy_pack")).toBe(path.join(packsDir, "legacy_pack"));
    expect(await storage.isInstalled("ghost", "1.0.0")).toBe(false);
    expect((await rejection(storage.resolveContentDir("etc", "1.0.0"))).code).toBe("ENOTFOUND");
  });

  it("never lists staging, trash or store internals, even mid-install", async () => {
    const { storage, stage } = await setup();
    await stage({ f: "staged but not installed" });
    expect(await storage.listInstalled()).toEqual([]);
    expect(await storage.isInstalled("core")).toBe(false);
  });

  it("uninstalls one version, or every version plus legacy", async () => {
    const { storage, stage, packsDir } = await setup();
    await storage.installPack(await stage({ v: "1" }), "core", "1.0.0");
    await storage.installPack(await stage({ v: "2" }), "core", "2.0.0");
    await storage.installPack(await stage({ v: "o" }), "other", "1.0.0");
    writeTree(path.join(packsDir, "core"), { legacy: "x" });
    expect(await storage.uninstallPack("core", "1.0.0")).toBe(true);
    expect(await storage.uninstallPack("core", "1.0.0")).toBe(false);
    expect(await storage.isInstalled("core", "2.0.0")).toBe(true);
    expect(await storage.uninstallPack("core")).toBe(true);
    expect((await storage.listInstalled()).map((p) => p.ref)).toEqual(["other"]);
    expect(internals(packsDir, ".store-v1")).toHaveLength(1);
    expect(await storage.uninstallPack("core")).toBe(false);
    fs.symlinkSync(".store-v1/vanished", path.join(packsDir, "core-3.0.0")); // a broken install
    expect(await storage.isInstalled("core")).toBe(false);
    expect(await storage.uninstallPack("core")).toBe(true);
    expect(fs.readdirSync(packsDir)).not.toContain("core-3.0.0"); // existsSync would follow the link
    expect((await rejection(storage.resolveContentDir("core", "2.0.0"))).code).toBe("ENOTFOUND");
  });

  it("an uninstall that cannot move the files away changes nothing, and a retry removes them all", async () => {
    const { storage, stage, packsDir } = await setup();
    await storage.installPack(await stage({ v: "1" }), "core", "1.0.0");
    const trash = path.join(packsDir, ".trash");
    fs.rmSync(trash, { recursive: true });
    fs.writeFileSync(trash, "in the way"); // the move into the trash fails, even for root
    expect((await rejection(storage.uninstallPack("core"))).code).toBe("EIO");
    expect(await storage.isInstalled("core", "1.0.0")).toBe(true); // whole, not half removed
    fs.rmSync(trash); // mended by removing it: the trash directory is made again when needed
    expect(await storage.uninstallPack("core")).toBe(true);
    expect(await storage.isInstalled("core")).toBe(false);
    expect(internals(packsDir, ".store-v1")).toEqual([]); // no store dir left without its link
    expect(fs.readdirSync(packsDir).filter((n) => !n.startsWith("."))).toEqual([]);
  });

  it("a link copied to another version's name is not that version, and removing or replacing it spares the real one", async () => {
    const { storage, stage, packsDir } = await setup();
    const real = await storage.installPack(
      await stage({ "pack.yaml": "ref: core\nversion: 1.5.0\n" }),
      "core",
      "1.5.0",
    );
    const stray = path.join(packsDir, "core-1.0.0");
    fs.symlinkSync(fs.readlinkSync(path.join(packsDir, "core-1.5.0")), stray); // what `cp -a` makes
    expect(await storage.isInstalled("core", "1.0.0")).toBe(false);
    expect((await storage.listInstalled()).map((p) => p.version)).toEqual(["1.5.0"]);
    // replacing it (a forced install of 1.0.0) and removing it leave 1.5.0's files alone
    await storage.installPack(await stage({ "pack.yaml": "ref: core\nversion: 1.0.0\n" }), "core", "1.0.0", {
      replace: true,
    });
    expect(fs.readFileSync(path.join(real, "pack.yaml"), "utf8")).toContain("1.5.0");
    fs.rmSync(stray);
    fs.symlinkSync(fs.readlinkSync(path.join(packsDir, "core-1.5.0")), stray);
    expect(await storage.uninstallPack("core", "1.0.0")).toBe(true);
    expect(fs.existsSync(stray)).toBe(false);
    expect(
      fs.readFileSync(path.join(await storage.resolveContentDir("core", "1.5.0"), "pack.yaml"), "utf8"),
    ).toContain("1.5.0");
  });

  it("rejects a staged path that is missing, a file or a symlink", async () => {
    const { storage, root } = await setup();
    expect((await rejection(storage.installPack(path.join(root, "nope"), "core", "1.0.0"))).code).toBe(
      "ENOENT",
    );
    fs.writeFileSync(path.join(root, "file"), "x");
    expect((await rejection(storage.installPack(path.join(root, "file"), "core", "1.0.0"))).code).toBe(
      "EINVALID_INPUT",
    );
    writeTree(path.join(root, "real"), { f: "x" });
    fs.symlinkSync(path.join(root, "real"), path.join(root, "link"));
    expect((await rejection(storage.installPack(path.join(root, "link"), "core", "1.0.0"))).code).toBe(
      "ESYMLINK",
    );
    expect(await storage.isInstalled("core")).toBe(false);
  });

  it("staged paths that are missing, a file or a link say what to pass", async () => {
    const { storage, root } = await setup();
    const nope = path.join(root, "nope");
    expect(await rejection(storage.installPack(nope, "core", "1.0.0"))).toMatchObject({
      code: "ENOENT",
      message: `cannot read staged pack ${nope}: no such file or directory`,
      hint: "check the path: nothing is there (or it was moved or deleted meanwhile)",
    });
    fs.writeFileSync(path.join(root, "file"), "x");
    expect(await rejection(storage.installPack(path.join(root, "file"), "core", "1.0.0"))).toMatchObject({
      code: "EINVALID_INPUT",
      message: `staged pack ${path.join(root, "file")} must be a real directory, not a file`,
      hint: "stage the pack's files in a directory (createStagingDir() makes one) and pass that directory",
      details: { field: "stagedDir" },
    });
    fs.mkdirSync(path.join(root, "real"));
    fs.symlinkSync(path.join(root, "real"), path.join(root, "link"));
    expect(await rejection(storage.installPack(path.join(root, "link"), "core", "1.0.0"))).toMatchObject({
      code: "ESYMLINK",
      message: `staged pack ${path.join(root, "link")} must be a real directory, not a symbolic link`,
      hint: "pass the directory the link points to (or stage the pack in a directory from createStagingDir())",
    });
  });

  it("with packsDir behind a symlink, refuses the real path of an installed tree, and a directory holding the store", async () => {
    const t = tmp();
    perTest.later(t.cleanup);
    fs.mkdirSync(path.join(t.dir, "real-packs"));
    fs.symlinkSync(path.join(t.dir, "real-packs"), path.join(t.dir, "packs"));
    const storage = new PackStorage({ packsDir: path.join(t.dir, "packs") });
    await storage.init();
    await storage.installPack(writeTree(await storage.createStagingDir(), { v: "1" }), "core", "1.0.0");
    const live = fs.realpathSync(await storage.resolveContentDir("core", "1.0.0"));
    expect(live.startsWith(path.join(t.dir, "real-packs"))).toBe(true);
    expect(await rejection(storage.installPack(live, "other", "1.0.0"))).toMatchObject({
      code: "EINVALID_INPUT",
      message: `${live} is part of the pack store, not a staged pack`,
      path: live,
      hint: "stage the pack in a directory from createStagingDir() or outside the packs directory",
      details: { field: "stagedDir", realPath: live },
    });
    for (const bad of [path.join(t.dir, "real-packs"), path.join(t.dir, "real-packs", ".staging")]) {
      expect((await rejection(storage.installPack(bad, "other", "1.0.0"))).code).toBe("EINVALID_INPUT");
    }
    expect(await rejection(storage.installPack(t.dir, "other", "1.0.0"))).toMatchObject({
      code: "EINVALID_INPUT",
      message: `${t.dir} holds the packs directory, it cannot be a staged pack`,
    });
    expect(fs.readFileSync(path.join(storage.packsDir, "core-1.0.0/v"), "utf8")).toBe("1");
    expect(await storage.isInstalled("other")).toBe(false);
    // a staging dir reached through the link is still fine
    await storage.installPack(writeTree(await storage.createStagingDir(), { v: "o" }), "other", "1.0.0");
    expect(await storage.isInstalled("other", "1.0.0")).toBe(true);
  });

  it("refuses to move an installed tree or the store itself as a staged pack", async () => {
    const { storage, stage, packsDir } = await setup();
    await storage.installPack(await stage({ v: "1" }), "core", "1.0.0");
    const live = await storage.resolveContentDir("core", "1.0.0");
    for (const bad of [live, packsDir, path.join(packsDir, ".staging"), path.join(packsDir, ".store-v1")]) {
      expect((await rejection(storage.installPack(bad, "other", "1.0.0"))).code).toBe("EINVALID_INPUT");
    }
    expect(fs.readFileSync(path.join(packsDir, "core-1.0.0/v"), "utf8")).toBe("1");
    expect(await storage.isInstalled("other")).toBe(false);
  });

  it("replaces a hand-made real directory at a versioned path", async () => {
    const { storage, stage, packsDir } = await setup();
    writeTree(path.join(packsDir, "core-1.0.0"), { v: "manual" });
    expect((await rejection(storage.installPack(await stage({ v: "1" }), "core", "1.0.0"))).code).toBe(
      "ECONFLICT",
    );
    await storage.installPack(await stage({ v: "new" }), "core", "1.0.0", { replace: true });
    expect(fs.readFileSync(path.join(packsDir, "core-1.0.0/v"), "utf8")).toBe("new");
    expect(fs.lstatSync(path.join(packsDir, "core-1.0.0")).isSymbolicLink()).toBe(true);
  });

  // /dev/shm is a tmpfs; the packs directory is on the disk (/tmp here): a rename between them is EXDEV
  const otherFs = async () => {
    const shm = "/dev/shm";
    const setupDone = await setup();
    if (!fs.existsSync(shm) || fs.statSync(shm).dev === fs.statSync(setupDone.packsDir).dev) return null;
    const t = fs.mkdtempSync(path.join(shm, "attune-ps-"));
    perTest.later(() => fs.rmSync(t, { recursive: true, force: true }));
    return { ...setupDone, shm: t };
  };
  const skipNoOtherFs = () => {
    // no second filesystem: nothing to test (the same-filesystem path is tested above)
    console.warn("skipped: /dev/shm and the packs directory are on one filesystem");
  };

  it("moves a tree staged on another filesystem: copied, then the source removed", async () => {
    const o = await otherFs();
    if (!o) return skipNoOtherFs();
    const staged = writeTree(path.join(o.shm, "pack"), { "a/b.txt": "b", "c.txt": "c", "e/": null } as Record<
      string,
      string | null
    >);
    fs.chmodSync(path.join(staged, "c.txt"), 0o600);
    const sum = await calculateDirectoryChecksum(staged);
    await o.storage.installPack(staged, "core", "1.0.0");
    const content = await o.storage.resolveContentDir("core", "1.0.0");
    expect(await calculateDirectoryChecksum(content)).toBe(sum);
    expect(fs.statSync(path.join(content, "c.txt")).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(content, "e")).isDirectory()).toBe(true);
    expect(fs.existsSync(staged)).toBe(false); // as on one filesystem: the staged tree is gone
    expect(internals(o.packsDir, ".staging")).toHaveLength(0);
  });

  it("refuses a link or a FIFO in a tree staged on another filesystem, naming it; the source stays", async () => {
    const o = await otherFs();
    if (!o) return skipNoOtherFs();
    const linked = writeTree(path.join(o.shm, "linked"), { "a/b.txt": "b" });
    fs.symlinkSync("/etc/passwd", path.join(linked, "a", "passwd"));
    expect(await rejection(o.storage.installPack(linked, "core", "1.0.0"))).toMatchObject({
      code: "ESYMLINK",
      message: `${path.join(linked, "a", "passwd")} is a symbolic link; packs may not contain links`,
      path: path.join(linked, "a", "passwd"),
      hint: "replace the link with a copy of what it points to",
    });
    const piped = writeTree(path.join(o.shm, "piped"), { "a.txt": "a" });
    execFileSync("mkfifo", [path.join(piped, "pipe")]);
    expect(await rejection(o.storage.installPack(piped, "core", "1.0.0"))).toMatchObject({
      code: "ESPECIAL_FILE",
      message: `${path.join(piped, "pipe")} is a FIFO; packs may only contain regular files and directories`,
      path: path.join(piped, "pipe"),
      hint: "move it out of the pack's directory",
      details: { kind: "FIFO" },
    });
    expect(await o.storage.isInstalled("core")).toBe(false);
    expect(internals(o.packsDir, ".staging")).toEqual([]); // the partial copy is gone
    expect(internals(o.packsDir, ".store-v1")).toEqual([]);
    expect(fs.readdirSync(linked).sort()).toEqual(["a"]); // the refused source is left as it was
    expect(fs.readFileSync(path.join(piped, "a.txt"), "utf8")).toBe("a");
  });
});

describe("init() cleans what crashed processes left", () => {
  it("keeps a live process's staging dir and removes it once that process is gone", async () => {
    const { storage, packsDir } = await setup();
    const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
    const host = path
      .basename(await storage.createStagingDir())
      .split("~")[0]
      .split("@")[1];
    const name = `${child.pid}@${host}~abcdef012345`;
    writeTree(path.join(packsDir, ".staging", name), { f: "in progress" });
    await new PackStorage({ packsDir }).init();
    expect(internals(packsDir, ".staging")).toContain(name);
    const gone = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await gone;
    await new PackStorage({ packsDir }).init();
    expect(internals(packsDir, ".staging")).not.toContain(name);
  });

  // only Linux's /proc tells a zombie apart
  (fs.existsSync("/proc/self/stat") ? it : it.skip)(
    "treats a killed owner that its parent has not collected yet (a zombie) as gone",
    async () => {
      const { storage, packsDir } = await setup();
      // sh starts a child that exits shortly, then becomes `sleep`, which never collects it (a child
      // that exits before the exec may be collected by sh itself: then there is no zombie to see)
      const parent = spawn("sh", ["-c", "sleep 0.3 & echo $!; exec sleep 30"], {
        stdio: ["ignore", "pipe", "ignore"],
      });
      perTest.later(() => parent.kill("SIGKILL"));
      const zombie = Number(
        (await new Promise<Buffer>((r) => parent.stdout!.once("data", r))).toString().trim(),
      );
      const state = () => {
        try {
          return /\) (\w) /.exec(fs.readFileSync(`/proc/${zombie}/stat`, "latin1"))?.[1];
        } catch {
          return undefined; // not there yet, or already gone
        }
      };
      for (let i = 0; i < 200 && state() !== "Z"; i++) await new Promise((r) => setTimeout(r, 20));
      expect(state()).toBe("Z");
      expect(() => process.kill(zombie, 0)).not.toThrow(); // still "there" for kill(pid, 0)
      const host = path
        .basename(await storage.createStagingDir())
        .split("~")[0]
        .split("@")[1];
      const name = `${zombie}@${host}~abcdef012345`;
      writeTree(path.join(packsDir, ".staging", name), { f: "left by a killed install" });
      await new PackStorage({ packsDir }).init();
      expect(internals(packsDir, ".staging")).not.toContain(name);
    },
  );

  it("removes staging, trash and unlinked store dirs of dead owners, keeps live ones and installs", async () => {
    const { storage, stage, packsDir } = await setup();
    await storage.installPack(await stage({ v: "1" }), "core", "1.0.0");
    const live = await stage({ f: "mine, still in use" }); // owned by this (live) process
    const dead = spawnSync(process.execPath, [
      "-e",
      "process.stdout.write(String(process.pid))",
    ]).stdout.toString();
    const host = internals(packsDir, ".store-v1")[0].split("~")[1].split("@")[1];
    const tag = `${dead}@${host}~0123456789ab`;
    writeTree(path.join(packsDir, ".staging", tag), { f: "x" });
    fs.symlinkSync(".store-v1/x", path.join(packsDir, ".staging", `link~${tag}`));
    writeTree(path.join(packsDir, ".trash", `core-0.9.0~${tag}`), { f: "x" });
    writeTree(path.join(packsDir, ".store-v1", `core-3.0.0~${tag}`), { f: "x" });
    await new PackStorage({ packsDir }).init();
    expect(internals(packsDir, ".staging")).toEqual([path.basename(live)]);
    expect(internals(packsDir, ".trash")).toEqual([]);
    expect(internals(packsDir, ".store-v1")).toHaveLength(1);
    expect(await storage.isInstalled("core", "1.0.0")).toBe(true);
  });
});

describe("the store's identity: checkIntact() and writes after init()", () => {
  const storeId = (packsDir: string) =>
    fs.readFileSync(path.join(packsDir, ".store-v1", ".store-id"), "utf8");
  const empty = (packsDir: string) => {
    for (const n of fs.readdirSync(packsDir)) fs.rmSync(path.join(packsDir, n), { recursive: true });
  };

  it("gives a new store a random id; processes opening one store at once agree on it", async () => {
    const t = tmp();
    perTest.later(t.cleanup);
    const packsDir = path.join(t.dir, "packs");
    const [a, b] = [new PackStorage({ packsDir }), new PackStorage({ packsDir })];
    await Promise.all([a.init(), b.init()]);
    expect(storeId(packsDir)).toMatch(/^[0-9a-f]{32}\n$/);
    await expect(a.checkIntact()).resolves.toBeUndefined();
    await expect(b.checkIntact()).resolves.toBeUndefined();
    expect(internals(packsDir, ".staging")).toEqual([]); // the id's temporary file is gone
    const other = tmp();
    perTest.later(other.cleanup);
    await new PackStorage({ packsDir: other.dir }).init();
    expect(storeId(other.dir)).not.toBe(storeId(packsDir));
  });

  it("fails once the packs directory holds another store than the one opened, and writes are refused instead of making one", async () => {
    const { storage, stage, packsDir, root } = await setup();
    await storage.installPack(await stage({ v: "1" }), "core", "1.0.0");
    const backup = path.join(root, "backup");
    fs.cpSync(packsDir, backup, { recursive: true, verbatimSymlinks: true });

    empty(packsDir); // emptied under the process: the store is gone
    await expect(storage.checkIntact()).rejects.toMatchObject({
      code: "EIO",
      message: `the packs directory ${packsDir} has lost its store (.store-v1): it was emptied or replaced`,
      details: { storeLost: true },
    });
    // a write does not quietly make a new, empty store in its place
    await expect(storage.createStagingDir()).rejects.toMatchObject({
      code: "EIO",
      details: { storeLost: true },
    });
    expect(fs.readdirSync(packsDir)).toEqual([]);

    // another process (or this one's start-up after a restart) made a new store there
    const fresh = new PackStorage({ packsDir });
    await fresh.init();
    await expect(fresh.checkIntact()).resolves.toBeUndefined();
    await expect(storage.checkIntact()).rejects.toMatchObject({
      code: "EIO",
      message: `the packs directory ${packsDir} holds another store (.store-v1) than the one this process opened: it was emptied or replaced`,
      hint: expect.stringContaining("restore the whole packs directory from a backup"),
      details: { storeLost: true },
    });
    const staged = await fresh.createStagingDir();
    await expect(storage.installPack(staged, "late", "1.0.0")).rejects.toMatchObject({
      details: { storeLost: true },
    });
    expect(await fresh.isInstalled("late")).toBe(false);

    // the whole packs directory restored from a backup (new inodes, same id): the same store again
    fs.rmSync(packsDir, { recursive: true });
    fs.cpSync(backup, packsDir, { recursive: true, verbatimSymlinks: true });
    await expect(storage.checkIntact()).resolves.toBeUndefined();
    expect(await storage.isInstalled("core", "1.0.0")).toBe(true);
  });

  it("opens and works on an older store without an id; one whose id an older version removed stays the same store", async () => {
    const t = tmp();
    perTest.later(t.cleanup);
    const packsDir = path.join(t.dir, "packs");
    // an older version's store: the layout without .store-id, and a pack in it
    const old = new PackStorage({ packsDir });
    await old.installPack(writeTree(await old.createStagingDir(), { v: "1" }), "core", "1.0.0");
    expect(fs.existsSync(path.join(packsDir, ".store-v1", ".store-id"))).toBe(false);

    const storage = new PackStorage({ packsDir });
    await storage.init();
    expect(storeId(packsDir)).toMatch(/^[0-9a-f]{32}\n$/); // given one
    await expect(storage.checkIntact()).resolves.toBeUndefined();
    expect(await storage.isInstalled("core", "1.0.0")).toBe(true);
    await storage.installPack(writeTree(await storage.createStagingDir(), { v: "2" }), "core", "2.0.0");

    // an older version's start-up removes files in the store it does not know: still this store
    const first = storeId(packsDir);
    fs.rmSync(path.join(packsDir, ".store-v1", ".store-id"));
    await expect(storage.checkIntact()).resolves.toBeUndefined();
    // ...and a newer process opening it then gives it another id: still the very same store directory
    await new PackStorage({ packsDir }).init();
    expect(storeId(packsDir)).not.toBe(first);
    await expect(storage.checkIntact()).resolves.toBeUndefined();
    await storage.installPack(writeTree(await storage.createStagingDir(), { v: "3" }), "core", "3.0.0");
    // ...but a store directory made anew by hand (or by an older version) is another one
    fs.renameSync(path.join(packsDir, ".store-v1"), path.join(t.dir, "old-store"));
    fs.mkdirSync(path.join(packsDir, ".store-v1"));
    await expect(storage.checkIntact()).rejects.toMatchObject({ code: "EIO", details: { storeLost: true } });
  });

  it("keeps working on a store whose id cannot be read (a directory in its place): known by its directory", async () => {
    const t = tmp();
    perTest.later(t.cleanup);
    const packsDir = path.join(t.dir, "packs");
    fs.mkdirSync(path.join(packsDir, ".store-v1", ".store-id"), { recursive: true }); // read: EISDIR
    const storage = new PackStorage({ packsDir });
    await storage.init();
    await expect(storage.checkIntact()).resolves.toBeUndefined();
    const staged = writeTree(await storage.createStagingDir(), { v: "1" });
    await storage.installPack(staged, "core", "1.0.0");
    await expect(storage.checkIntact()).resolves.toBeUndefined();
    expect(await storage.isInstalled("core", "1.0.0")).toBe(true);
    // ...and a store directory made anew is still told from it
    fs.renameSync(path.join(packsDir, ".store-v1"), path.join(t.dir, "old-store"));
    fs.mkdirSync(path.join(packsDir, ".store-v1"));
    await expect(storage.checkIntact()).rejects.toMatchObject({
      code: "EIO",
      details: { storeLost: true, reason: "replaced" },
    });
  });

  it("writes the id readable by all (0644) whatever the umask", async () => {
    const t = tmp();
    perTest.later(t.cleanup);
    const packsDir = path.join(t.dir, "packs");
    const old = process.umask(0o077);
    try {
      await new PackStorage({ packsDir }).init();
    } finally {
      process.umask(old);
    }
    expect(fs.statSync(path.join(packsDir, ".store-v1", ".store-id")).mode & 0o777).toBe(0o644);
  });

  it("every failure to look at the store carries storeLost: a store directory that is a symlink loop", async () => {
    const { storage, packsDir, root } = await setup();
    fs.renameSync(path.join(packsDir, ".store-v1"), path.join(root, "old-store"));
    fs.symlinkSync(".store-v1", path.join(packsDir, ".store-v1")); // stat: ELOOP
    await expect(storage.checkIntact()).rejects.toMatchObject({
      code: "EIO",
      message: expect.stringContaining("cannot read the store"),
      details: { storeLost: true, reason: "unreadable" },
    });
    await expect(storage.createStagingDir()).rejects.toMatchObject({ details: { storeLost: true } });
  });

  it("opening a packs directory whose store directory is a link that leads nowhere names that link", async () => {
    const { packsDir, root } = await setup();
    fs.renameSync(path.join(packsDir, ".store-v1"), path.join(root, "old-store"));
    const store = path.join(packsDir, ".store-v1");
    for (const target of [".store-v1", path.join(root, "missing")]) {
      fs.symlinkSync(target, store); // a loop, then a dangling link: mkdir says EEXIST, stat fails
      await expect(new PackStorage({ packsDir }).init()).rejects.toMatchObject({
        code: "EIO",
        path: store,
        message: `cannot create the store directory ${store}: it is a symbolic link that leads nowhere (a dangling link or a loop)`,
        hint: expect.stringContaining(`remove the link ${store}`),
      });
      fs.unlinkSync(store);
    }
    // a packs directory that is itself a file is still named as such
    const file = path.join(root, "a-file");
    fs.writeFileSync(file, "");
    await expect(new PackStorage({ packsDir: file }).init()).rejects.toMatchObject({
      message: expect.stringMatching(/^cannot create the packs directory .*a-file: EEXIST/),
    });
  });

  it("names a restored backup without an id (from before store ids): a restart adopts it", async () => {
    const { storage, stage, packsDir, root } = await setup();
    await storage.installPack(await stage({ v: "1" }), "core", "1.0.0");
    // a backup taken before the upgrade: the same layout, no id
    const backup = path.join(root, "backup");
    fs.cpSync(packsDir, backup, { recursive: true, verbatimSymlinks: true });
    fs.rmSync(path.join(backup, ".store-v1", ".store-id"));
    fs.rmSync(packsDir, { recursive: true });
    fs.cpSync(backup, packsDir, { recursive: true, verbatimSymlinks: true });

    await expect(storage.checkIntact()).rejects.toMatchObject({
      code: "EIO",
      message: `the store (.store-v1) in the packs directory ${packsDir} has no id, and is not the store directory this process opened: a backup from an older version?`,
      hint: expect.stringMatching(/^restart this process to adopt it/),
      details: { storeLost: true, reason: "no_id" },
    });
    // the restart: a new storage opens it, gives it an id, and writes
    const restarted = new PackStorage({ packsDir });
    await restarted.init();
    await expect(restarted.checkIntact()).resolves.toBeUndefined();
    expect(await restarted.isInstalled("core", "1.0.0")).toBe(true);
    await restarted.installPack(writeTree(await restarted.createStagingDir(), { v: "2" }), "core", "2.0.0");
  });

  it("where the birth time follows the change time (no statx), the store is known by device and inode", async () => {
    const t = tmp();
    perTest.later(t.cleanup);
    const packsDir = path.join(t.dir, "packs");
    const store = path.join(packsDir, ".store-v1");
    // as libuv reports it without statx: the birth time is the change time
    const realStat = fs.promises.stat;
    const spy = jest.spyOn(fs.promises, "stat").mockImplementation((async (
      p: fs.PathLike,
      o?: fs.StatOptions,
    ) => {
      const st = (await realStat(p, o)) as fs.Stats;
      if (String(p) === store) st.birthtimeMs = st.ctimeMs;
      return st;
    }) as typeof fs.promises.stat);
    try {
      const storage = new PackStorage({ packsDir });
      await storage.init();
      const before = fs.statSync(store).ctimeMs;
      await storage.installPack(writeTree(await storage.createStagingDir(), { v: "1" }), "core", "1.0.0");
      await storage.uninstallPack("core", "1.0.0"); // the id can go too (an older version's start-up)
      fs.rmSync(path.join(store, ".store-id"));
      expect(fs.statSync(store).ctimeMs).not.toBe(before); // the "birth time" moved
      await expect(storage.checkIntact()).resolves.toBeUndefined();
      await storage.installPack(writeTree(await storage.createStagingDir(), { v: "2" }), "core", "2.0.0");
      // without a birth time, another id in the same directory says it is another store (a
      // directory made anew on the old inode); with one, the directory would win (see above)
      const id = path.join(store, ".store-id");
      fs.writeFileSync(id, "0123456789abcdef0123456789abcdef\n");
      await expect(storage.checkIntact()).rejects.toMatchObject({
        details: { storeLost: true, reason: "replaced" },
      });
      fs.rmSync(id);
      await expect(storage.checkIntact()).resolves.toBeUndefined();
      // a store directory made anew is still another one (another inode: the old one is kept)
      fs.renameSync(store, path.join(t.dir, "old-store"));
      fs.mkdirSync(store);
      await expect(storage.checkIntact()).rejects.toMatchObject({ details: { storeLost: true } });
    } finally {
      spy.mockRestore();
    }
  });

  it("a storage never initialised only checks that a store is there, and makes the layout as before", async () => {
    const t = tmp();
    perTest.later(t.cleanup);
    const storage = new PackStorage({ packsDir: path.join(t.dir, "packs") });
    await storage.createStagingDir();
    await expect(storage.checkIntact()).resolves.toBeUndefined();
  });
});

describe("emptyTrash()", () => {
  it("removes what failed deletions of this process and dead processes left, never a live process's", async () => {
    const { storage, stage, packsDir } = await setup();
    await storage.installPack(await stage({ v: "1" }), "core", "1.0.0");
    const host = internals(packsDir, ".store-v1")[0].split("~")[1].split("@")[1];
    const dead = spawnSync(process.execPath, [
      "-e",
      "process.stdout.write(String(process.pid))",
    ]).stdout.toString();
    const trash = (name: string) => writeTree(path.join(packsDir, ".trash", name), { "a/b": "left" });
    const own = trash(`core-0.1.0~${process.pid}@${host}~0123456789ab`);
    const gone = trash(`core-0.2.0~${dead}@${host}~0123456789ab`);
    const live = trash(`core-0.3.0~${process.ppid}@${host}~0123456789ab`);
    const out = await storage.emptyTrash();
    expect(out.removed.sort()).toEqual([own, gone].sort());
    expect(out.kept).toEqual([]);
    expect(internals(packsDir, ".trash")).toEqual([path.basename(live)]);
    expect(await storage.isInstalled("core", "1.0.0")).toBe(true);
  });

  it("removes a dead process's staging dirs (a killed CLI run) while running, never a live one's or its own", async () => {
    const { storage, packsDir } = await setup();
    const mine = await storage.createStagingDir();
    writeTree(mine, { "src/pack.yaml": "ref: x\n" });
    const host = path.basename(mine).split("@")[1].split("~")[0];
    const dead = spawnSync(process.execPath, [
      "-e",
      "process.stdout.write(String(process.pid))",
    ]).stdout.toString();
    const staging = (name: string) => writeTree(path.join(packsDir, ".staging", name), { "src/a": "half" });
    const gone = staging(`${dead}@${host}~0123456789ab`);
    const live = staging(`${process.ppid}@${host}~0123456789ab`);
    const out = await storage.emptyTrash();
    expect(out.removed).toEqual([gone]);
    expect(fs.existsSync(gone)).toBe(false);
    expect(fs.readFileSync(path.join(mine, "src/pack.yaml"), "utf8")).toBe("ref: x\n");
    expect(fs.existsSync(path.join(live, "src/a"))).toBe(true);
  });
});

describe("a replaced store dir is kept for readers for a grace period", () => {
  const mark = (packsDir: string, dir: string) =>
    path.join(packsDir, ".store-v1", `.retired~${path.basename(dir)}`);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it("a reader holding the old target path still reads it right after a replace; a sweep after the grace period removes it", async () => {
    const { storage, stage, packsDir } = await setup({ retiredGraceMs: 1000 });
    const final = await storage.installPack(
      await stage({ "pack.yaml": "version: 1\n", "a/b": "old" }),
      "demo_pack",
      "1.0.0",
    );
    const held = fs.realpathSync(final); // what a reader resolved before the replace
    expect(held).toBe(await storage.resolveContentDir("demo_pack", "1.0.0"));
    const oldSum = await calculateDirectoryChecksum(held);
    await storage.installPack(await stage({ "pack.yaml": "version: 2\n" }), "demo_pack", "1.0.0", {
      replace: true,
    });
    expect(fs.readFileSync(path.join(final, "pack.yaml"), "utf8")).toBe("version: 2\n");
    // the old tree is still whole where the reader found it, and only marked retired
    expect(fs.readFileSync(path.join(held, "pack.yaml"), "utf8")).toBe("version: 1\n");
    expect(await calculateDirectoryChecksum(held)).toBe(oldSum);
    expect(fs.existsSync(mark(packsDir, held))).toBe(true);
    expect(internals(packsDir, ".store-v1")).toHaveLength(2);
    expect(await storage.listInstalled()).toEqual([{ ref: "demo_pack", version: "1.0.0", path: final }]);
    // within the grace period no sweep removes it: emptyTrash, another install, an uninstall, a start-up
    await storage.emptyTrash();
    await storage.installPack(await stage({ v: "x" }), "other", "1.0.0");
    await storage.uninstallPack("other");
    await new PackStorage({ packsDir }).init(); // the default grace period (60 s)
    expect(fs.readFileSync(path.join(held, "pack.yaml"), "utf8")).toBe("version: 1\n");
    await sleep(1100);
    expect(await storage.emptyTrash()).toEqual({ removed: [], kept: [] });
    expect(fs.existsSync(held)).toBe(false);
    expect(fs.existsSync(mark(packsDir, held))).toBe(false);
    expect(fs.readdirSync(path.join(packsDir, ".store-v1")).sort()).toEqual([
      ".store-id",
      path.basename(await storage.resolveContentDir("demo_pack", "1.0.0")),
    ]);
    expect(internals(packsDir, ".trash")).toEqual([]);
    expect(fs.readFileSync(path.join(final, "pack.yaml"), "utf8")).toBe("version: 2\n");
  });

  it("installPack and uninstallPack sweep too, once the grace period has passed", async () => {
    const { storage, stage, packsDir } = await setup({ retiredGraceMs: 500 });
    await storage.installPack(await stage({ v: "1" }), "core", "1.0.0");
    const first = await storage.resolveContentDir("core", "1.0.0");
    await storage.installPack(await stage({ v: "2" }), "core", "1.0.0", { replace: true });
    const second = await storage.resolveContentDir("core", "1.0.0");
    await sleep(600);
    await storage.installPack(await stage({ v: "3" }), "core", "1.0.0", { replace: true });
    // the first retired store dir is past its grace period; the second was retired just now
    expect(fs.existsSync(first)).toBe(false);
    expect(fs.existsSync(mark(packsDir, first))).toBe(false);
    expect(fs.readFileSync(path.join(second, "v"), "utf8")).toBe("2");
    await sleep(600);
    expect(await storage.uninstallPack("nothing")).toBe(false);
    expect(fs.existsSync(second)).toBe(false);
    expect(internals(packsDir, ".store-v1")).toEqual([
      path.basename(await storage.resolveContentDir("core", "1.0.0")),
    ]);
  });

  it("a retired store dir of a dead owner is kept by init() during the grace period; a store dir being installed is never taken for a retired one", async () => {
    const { storage, stage, packsDir } = await setup();
    await storage.installPack(await stage({ v: "1" }), "core", "1.0.0");
    const host = internals(packsDir, ".store-v1")[0].split("~")[1].split("@")[1];
    const dead = spawnSync(process.execPath, [
      "-e",
      "process.stdout.write(String(process.pid))",
    ]).stdout.toString();
    // core 2.0.0 installed by a process now dead, then replaced by this one
    const deadStore = writeTree(path.join(packsDir, ".store-v1", `core-2.0.0~${dead}@${host}~0123456789ab`), {
      v: "dead's",
    });
    fs.symlinkSync(`.store-v1/${path.basename(deadStore)}`, path.join(packsDir, "core-2.0.0"));
    await storage.installPack(await stage({ v: "2" }), "core", "2.0.0", { replace: true });
    expect(fs.existsSync(mark(packsDir, deadStore))).toBe(true);
    // moved in by a live process (this one), not linked yet, with an old mtime: an install under way
    const busy = writeTree(
      path.join(packsDir, ".store-v1", `core-3.0.0~${process.pid}@${host}~0123456789ab`),
      { v: "3" },
    );
    const hourAgo = new Date(Date.now() - 3600_000);
    fs.utimesSync(busy, hourAgo, hourAgo);
    // a mark whose store dir is gone (a sweep interrupted between the two deletions)
    const stale = path.join(packsDir, ".store-v1", `.retired~core-0.1.0~${dead}@${host}~0123456789ab`);
    fs.writeFileSync(stale, "x");

    await new PackStorage({ packsDir }).init();
    expect(fs.readFileSync(path.join(deadStore, "v"), "utf8")).toBe("dead's");
    expect(fs.existsSync(busy)).toBe(true);

    await new PackStorage({ packsDir, retiredGraceMs: 0 }).init();
    expect(fs.existsSync(deadStore)).toBe(false);
    expect(fs.existsSync(mark(packsDir, deadStore))).toBe(false);
    expect(fs.existsSync(stale)).toBe(false);
    expect(fs.existsSync(busy)).toBe(true); // no mark: left to its owner, which still runs
    await new PackStorage({ packsDir, retiredGraceMs: 0 }).emptyTrash();
    expect(fs.existsSync(busy)).toBe(true);
    expect(await storage.listInstalled()).toEqual([
      { ref: "core", version: "1.0.0", path: path.join(packsDir, "core-1.0.0") },
      { ref: "core", version: "2.0.0", path: path.join(packsDir, "core-2.0.0") },
    ]);
  });

  it("a mark on a store dir still linked (a replace killed before its swap) is inert, and a replace refreshes it", async () => {
    const { storage, stage, packsDir } = await setup({ retiredGraceMs: 5000 });
    await storage.installPack(await stage({ v: "1" }), "core", "1.0.0");
    const linked = await storage.resolveContentDir("core", "1.0.0");
    fs.writeFileSync(mark(packsDir, linked), "x");
    const hourAgo = new Date(Date.now() - 3600_000);
    fs.utimesSync(mark(packsDir, linked), hourAgo, hourAgo);
    await new PackStorage({ packsDir, retiredGraceMs: 0 }).init();
    await storage.emptyTrash();
    expect(fs.readFileSync(path.join(linked, "v"), "utf8")).toBe("1");
    expect(fs.existsSync(mark(packsDir, linked))).toBe(true);
    // the replace writes the mark anew: the grace period counts from now, not from the old mark
    await storage.installPack(await stage({ v: "2" }), "core", "1.0.0", { replace: true });
    await storage.emptyTrash();
    expect(fs.readFileSync(path.join(linked, "v"), "utf8")).toBe("1");
    expect(Date.now() - fs.statSync(mark(packsDir, linked)).mtimeMs).toBeLessThan(5000);
  });

  it("a store dir that cannot be marked retired is deleted at once, as before", async () => {
    const { storage, stage, packsDir } = await setup();
    await storage.installPack(await stage({ v: "1" }), "core", "1.0.0");
    const oldDir = await storage.resolveContentDir("core", "1.0.0");
    fs.mkdirSync(mark(packsDir, oldDir)); // writing the mark fails (EISDIR)
    await storage.installPack(await stage({ v: "2" }), "core", "1.0.0", { replace: true });
    expect(fs.existsSync(oldDir)).toBe(false);
    expect(fs.readFileSync(path.join(packsDir, "core-1.0.0/v"), "utf8")).toBe("2");
    await new PackStorage({ packsDir }).init(); // and the mark, without its store dir, goes
    expect(fs.readdirSync(path.join(packsDir, ".store-v1")).filter((n) => n.startsWith(".retired~"))).toEqual(
      [],
    );
  });

  it.each([-1, Number.NaN, "60" as unknown as number])("refuses retiredGraceMs %p", (retiredGraceMs) => {
    expect(() => new PackStorage({ packsDir: "/tmp/x", retiredGraceMs })).toThrow(
      expect.objectContaining({
        code: "EINVALID_INPUT",
        message: `retiredGraceMs must be a number of milliseconds >= 0, got ${String(retiredGraceMs)}`,
        details: { field: "retiredGraceMs" },
        hint: "leave it out for the default (60000 ms)",
      }),
    );
    expect(new PackStorage({ packsDir: "/tmp/x" }).retiredGraceMs).toBe(RETIRED_GRACE_MS);
  });
});
