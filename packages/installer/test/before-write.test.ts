import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import { AttuneError, PackStorage } from "@attune/pack-storage";
import { tmpDir } from "@attune/test-utils";
import { settleLeftovers } from "../src/before-write";
import type { InstallerContext } from "../src/context";
import type { CleanupReport, Installer } from "../src/index";
import { writePack } from "./helpers/fixtures";
import { holdRefLock, makeHarness, packDirs, providers, type Harness } from "./helpers/harness";

const actor = { identityId: null, name: "tester" };
const cli = { method: "cli" as const };

describe.each(await providers())("every write settles earlier leftovers first [%s]", (provider) => {
  let h: Harness;
  let inst: Installer;
  let src: ReturnType<typeof tmpDir>;
  let reports: CleanupReport[];
  beforeEach(async () => {
    h = await makeHarness(provider);
    reports = [];
    inst = await h.open({ onCleanup: (r) => void reports.push(r) });
    src = tmpDir("attune-src-");
  });
  afterEach(async () => {
    src.cleanup();
    await h.cleanup();
  });
  const install = (ref: string, version = "1.0.0") =>
    inst.install(
      { source: writePack(path.join(src.dir, `${ref}-${version}`), { ref, version }), ...cli },
      actor,
    );
  const journal = (ref: string) => path.join(h.packsDir, ".journal", `${ref}.json`);
  const trash = () => path.join(h.packsDir, ".trash");

  it("an uninstall whose files could not be removed is finished by a write on another ref, once mended", async () => {
    await install("core");
    await install("other");
    const content = fs.realpathSync(path.join(h.packsDir, "core-1.0.0"));
    // files are removed by moving them into .trash first: a file in its place fails that (even for root)
    fs.rmSync(trash(), { recursive: true });
    fs.writeFileSync(trash(), "in the way");
    await expect(inst.uninstall("core", { actor, ...cli })).rejects.toMatchObject({
      details: { filesLeft: true, ref: "core", removed: ["1.0.0"] },
    });
    expect(fs.existsSync(content)).toBe(true);
    expect(fs.existsSync(journal("core"))).toBe(true);
    fs.rmSync(trash()); // mended

    await install("third"); // another ref, same process: no restart, no reconcile
    expect(fs.existsSync(content)).toBe(false);
    expect(fs.existsSync(journal("core"))).toBe(false);
    expect(packDirs(h.packsDir)).toEqual(["other-1.0.0", "third-1.0.0"]);
    expect(reports).toEqual([
      {
        interrupted: [{ ref: "core", version: "1.0.0", operation: "uninstall", resolution: "completed" }],
        failed: [],
        trashRemoved: [],
        unnamed: [],
      },
    ]);
    expect((await inst.list()).items.map((p) => p.pack.ref)).toEqual(["other", "third"]);

    // an uninstall is a write too
    fs.rmSync(trash(), { recursive: true });
    fs.writeFileSync(trash(), "in the way");
    await expect(inst.uninstall("other", { actor, ...cli })).rejects.toMatchObject({
      details: { filesLeft: true },
    });
    fs.rmSync(trash());
    await inst.uninstall("third", { actor, ...cli });
    expect(packDirs(h.packsDir)).toEqual([]);
    expect(fs.readdirSync(path.join(h.packsDir, ".journal"))).toEqual([]);
  });

  it("a leftover that cannot be settled is reported and kept, and never fails the write at hand", async () => {
    fs.mkdirSync(path.join(h.packsDir, ".journal"), { recursive: true });
    fs.writeFileSync(journal("broken"), "not a journal");
    const res = await install("core");
    expect(res.action).toBe("install");
    expect(reports).toEqual([
      {
        interrupted: [],
        failed: [
          {
            ref: "broken",
            code: "EIO",
            message: "the install journal of 'broken' is unreadable; it was set aside",
          },
        ],
        trashRemoved: [],
        unnamed: [],
      },
    ]);
  });

  it("leaves a ref whose lock is held alone (a live operation settles it), without waiting for it", async () => {
    await install("core");
    const content = fs.realpathSync(path.join(h.packsDir, "core-1.0.0"));
    fs.rmSync(trash(), { recursive: true });
    fs.writeFileSync(trash(), "in the way");
    await expect(inst.uninstall("core", { actor, ...cli })).rejects.toMatchObject({
      details: { filesLeft: true },
    });
    fs.rmSync(trash());
    const held = await holdRefLock(h, "core");
    try {
      const started = Date.now();
      await install("other");
      expect(Date.now() - started).toBeLessThan(2_000); // no wait for the lock (lockTimeoutMs is 30 s)
      expect(fs.existsSync(content)).toBe(true);
      expect(fs.existsSync(journal("core"))).toBe(true);
      expect(reports).toEqual([]);
    } finally {
      await held.release();
    }
    await install("third");
    expect(fs.existsSync(content)).toBe(false);
  });

  it("empties this process's trash that an earlier deletion left", async () => {
    await install("core");
    const left = path.join(trash(), `core-0.9.0~${process.pid}@${hostTag(h.packsDir)}~0123456789ab`);
    fs.mkdirSync(path.join(left, "actions"), { recursive: true });
    fs.writeFileSync(path.join(left, "actions", "a.sh"), "left behind");
    await install("other");
    expect(fs.existsSync(left)).toBe(false);
    expect(reports).toEqual([{ interrupted: [], failed: [], trashRemoved: [left], unnamed: [] }]);
  });

  it("removes the staging dir of a process killed mid-install (a CLI run), not only at the next start", async () => {
    await install("core");
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout;
    const left = path.join(h.packsDir, ".staging", `${dead}@${hostTag(h.packsDir)}~0123456789ab`);
    fs.mkdirSync(path.join(left, "src"), { recursive: true });
    fs.writeFileSync(path.join(left, "src", "half.bin"), "half a download");
    await install("other");
    expect(fs.existsSync(left)).toBe(false);
    expect(reports).toEqual([{ interrupted: [], failed: [], trashRemoved: [left], unnamed: [] }]);
    // this write's own staging dir went with it: nothing is left in .staging
    expect(fs.readdirSync(path.join(h.packsDir, ".staging"))).toEqual([]);
  });
});

/** the host tag of this machine in internal names (from a store dir this process made) */
function hostTag(packsDir: string): string {
  const name = fs.readdirSync(path.join(packsDir, ".store-v1")).find((n) => !n.startsWith("."))!;
  return name.split("~")[1].split("@")[1];
}

describe.each(await providers())(
  "a packs directory emptied or replaced under the process [%s]",
  (provider) => {
    let h: Harness;
    let src: ReturnType<typeof tmpDir>;
    beforeEach(async () => {
      h = await makeHarness(provider);
      src = tmpDir("attune-src-");
    });
    afterEach(async () => {
      src.cleanup();
      await h.cleanup();
    });
    const source = (ref: string) => writePack(path.join(src.dir, ref), { ref, version: "1.0.0" });
    const empty = () => {
      for (const n of fs.readdirSync(h.packsDir)) fs.rmSync(path.join(h.packsDir, n), { recursive: true });
    };

    it("refuses installs and uninstalls (ECONFIG, naming the directory and the way on) instead of starting a new store; a restart takes it as it is", async () => {
      const inst = await h.open();
      await inst.install({ source: source("core"), ...cli }, actor);
      empty();
      const refused = {
        code: "ECONFIG",
        path: h.packsDir,
        hint: expect.stringMatching(
          /^restore the packs directory .* from a backup, or restart this process: .*`attune pack verify --all`/,
        ),
        details: { storeLost: true, installed: 1 },
      };
      await expect(inst.install({ source: source("other"), ...cli }, actor)).rejects.toMatchObject({
        ...refused,
        message: `refusing to install: the packs directory ${h.packsDir} has lost its store (.store-v1): it was emptied or replaced; the database records 1 installed pack`,
      });
      await expect(inst.uninstall("core", { actor, ...cli })).rejects.toMatchObject({
        ...refused,
        message: expect.stringMatching(/^refusing to uninstall 'core': the packs directory /),
      });
      expect(fs.readdirSync(h.packsDir)).toEqual([]); // no new, empty store was made
      await expect(inst.ready()).rejects.toMatchObject({ code: "EIO" });
      expect((await inst.show("core")).installation).not.toBeNull(); // nothing was recorded either

      // a restart takes the directory as it is: reconcile flags the lost files, writes work again
      const restarted = await h.open();
      expect(restarted.lastReconcile?.missingFiles.map((m) => m.ref)).toEqual(["core"]);
      await expect(restarted.ready()).resolves.toBeUndefined();
      await restarted.install({ source: source("other"), ...cli }, actor);
      expect((await restarted.verify("core")).ok).toBe(false);
      // ...while the process that opened the old store still refuses: the new store is another one
      await expect(inst.ready()).rejects.toMatchObject({
        code: "EIO",
        message: `the packs directory ${h.packsDir} holds another store (.store-v1) than the one this process opened: it was emptied or replaced`,
      });
      await expect(inst.install({ source: source("third"), ...cli }, actor)).rejects.toMatchObject({
        code: "ECONFIG",
        details: { storeLost: true, installed: 2 },
      });
    });

    it("refuses while the packs directory is gone, and writes again once it is put back", async () => {
      const inst = await h.open();
      await inst.install({ source: source("core"), ...cli }, actor);
      fs.renameSync(h.packsDir, `${h.packsDir}.away`);
      await expect(inst.install({ source: source("other"), ...cli }, actor)).rejects.toMatchObject({
        code: "ECONFIG",
        message: `refusing to install: cannot read the packs directory ${h.packsDir}: no such file or directory; the database records 1 installed pack`,
        // a restart is refused too (openInstaller: the packs directory does not exist): not the way on
        hint: `restore the packs directory ${h.packsDir} from a backup (or create it anew, empty, and reinstall the packs) before restarting this process: a restart is refused too while it is missing and the database records installed packs`,
        details: { storeLost: true, reason: "gone", cause: "ENOENT" },
      });
      expect(fs.existsSync(h.packsDir)).toBe(false); // not made anew
      // a verify is refused the same way: its ref lock lives in the packs directory, which it must
      // not make anew (a restore from a backup would then land inside the new, empty directory)
      await expect(inst.verify("core", actor)).rejects.toMatchObject({
        code: "ECONFIG",
        message: `refusing to verify 'core': cannot read the packs directory ${h.packsDir}: no such file or directory; the database records 1 installed pack`,
        details: { storeLost: true, reason: "gone" },
      });
      await expect(inst.verifyAll(actor)).rejects.toMatchObject({
        code: "ECONFIG",
        details: { storeLost: true },
      });
      expect(fs.existsSync(h.packsDir)).toBe(false);
      fs.renameSync(`${h.packsDir}.away`, h.packsDir);
      expect((await inst.verify("core", actor)).ok).toBe(true);
      await inst.install({ source: source("other"), ...cli }, actor);
      expect(packDirs(h.packsDir)).toEqual(["core-1.0.0", "other-1.0.0"]);
    });

    it("refuses (ECONFIG, storeLost) when the store cannot even be looked at: a symlink loop in its place", async () => {
      const inst = await h.open();
      await inst.install({ source: source("core"), ...cli }, actor);
      const store = path.join(h.packsDir, ".store-v1");
      fs.renameSync(store, `${h.packsDir}.store-away`);
      fs.symlinkSync(".store-v1", store);
      await expect(inst.install({ source: source("other"), ...cli }, actor)).rejects.toMatchObject({
        code: "ECONFIG",
        message: expect.stringMatching(/^refusing to install: cannot read the store .*\.store-v1/),
        details: { storeLost: true, reason: "unreadable", cause: "EIO" },
      });
      fs.rmSync(store);
      fs.renameSync(`${h.packsDir}.store-away`, store);
      await inst.install({ source: source("other"), ...cli }, actor);
    });

    it("names a restored backup from before store ids (no id) and says a restart adopts it", async () => {
      const inst = await h.open();
      await inst.install({ source: source("core"), ...cli }, actor);
      const backup = `${h.packsDir}.backup`;
      fs.cpSync(h.packsDir, backup, { recursive: true, verbatimSymlinks: true });
      fs.rmSync(path.join(backup, ".store-v1", ".store-id"));
      fs.rmSync(h.packsDir, { recursive: true });
      fs.renameSync(backup, h.packsDir);
      await expect(inst.install({ source: source("other"), ...cli }, actor)).rejects.toMatchObject({
        code: "ECONFIG",
        hint: expect.stringMatching(/^restart this process to adopt the store in /),
        details: { storeLost: true, reason: "no_id" },
      });
      const restarted = await h.open();
      await expect(restarted.ready()).resolves.toBeUndefined();
      await restarted.install({ source: source("other"), ...cli }, actor);
      expect((await restarted.verify("core")).ok).toBe(true);
    });

    it("opens and writes on a store whose id cannot be read (a directory in its place)", async () => {
      fs.mkdirSync(path.join(h.packsDir, ".store-v1", ".store-id"), { recursive: true });
      const inst = await h.open();
      await expect(inst.ready()).resolves.toBeUndefined();
      await inst.install({ source: source("core"), ...cli }, actor);
      await inst.install({ source: source("other"), ...cli }, actor);
      expect(packDirs(h.packsDir)).toEqual(["core-1.0.0", "other-1.0.0"]);
    });

    it("is not fooled by a store another process made anew in the emptied directory", async () => {
      const inst = await h.open();
      await inst.install({ source: source("core"), ...cli }, actor);
      empty();
      await new PackStorage({ packsDir: h.packsDir }).init(); // a new, empty store with its own id
      await expect(inst.ready()).rejects.toMatchObject({ code: "EIO", details: { storeLost: true } });
      await expect(inst.install({ source: source("other"), ...cli }, actor)).rejects.toMatchObject({
        code: "ECONFIG",
      });
      expect(packDirs(h.packsDir)).toEqual([]);
    });

    it("opens and writes on a store of an older version (no store id)", async () => {
      const inst = await h.open();
      await inst.install({ source: source("core"), ...cli }, actor);
      await inst.close();
      fs.rmSync(path.join(h.packsDir, ".store-v1", ".store-id"));
      const reopened = await h.open();
      await expect(reopened.ready()).resolves.toBeUndefined();
      await reopened.install({ source: source("other"), ...cli }, actor);
      expect((await reopened.verify("core")).ok).toBe(true);
      expect(packDirs(h.packsDir)).toEqual(["core-1.0.0", "other-1.0.0"]);
    });
  },
);

describe("settleLeftovers", () => {
  it("never throws: a lock whose release fails is reported as a failure of that ref", async () => {
    // A fake locker: PostgresLocker's release (pg_advisory_unlock) fails when the connection drops
    // at that very moment, which a test cannot bring about reliably against a real server.
    const released: string[] = [];
    const ctx = {
      journal: {
        refs: async () => ["core", "other"],
        removeTemp: async () => undefined,
        read: async () => null,
      },
      locker: {
        acquire: async (ref: string) => ({
          assertHeld: () => undefined,
          release: async () => {
            released.push(ref);
            if (ref === "core") throw new AttuneError("EDATABASE", "the connection to the database was lost");
          },
        }),
      },
      storage: { emptyTrash: async () => ({ removed: [], kept: [] }) },
      attempts: { takeAbandoned: async () => [] },
    } as unknown as InstallerContext;
    await expect(settleLeftovers(ctx, null)).resolves.toEqual({
      interrupted: [],
      failed: [{ ref: "core", code: "EDATABASE", message: "the connection to the database was lost" }],
      trashRemoved: [],
      unnamed: [],
    });
    expect(released).toEqual(["core", "other"]); // the next ref was still settled
  });
});
