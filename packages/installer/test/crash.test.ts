import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import { repositories } from "@attune/db";
import { calculateDirectoryChecksum } from "@attune/pack-storage";
import { tmpDir } from "@attune/test-utils";
import type { InstallerOptions } from "../src/index";
import { makeTarGz, writePack } from "./helpers/fixtures";
import { makeHarness, packDirs, providers, type Harness } from "./helpers/harness";

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), "helpers", "child.mjs");
const actor = { identityId: null, name: "tester" };

/** run one operation in a child process that SIGKILLs itself at `crashAt` (test-only hook) */
function runChild(
  job: {
    options: InstallerOptions;
    op: string;
    request?: unknown;
    ref?: string;
    actorId?: number;
    actor?: string;
    tokenId?: number;
  },
  crashAt?: string,
) {
  const r = spawnSync(process.execPath, [CHILD, JSON.stringify(job)], {
    env: { ...process.env, ATTUNE_TEST_CRASH_AT: crashAt ?? "" },
    encoding: "utf8",
  });
  const last = (r.stdout ?? "").trim().split("\n").at(-1);
  return { signal: r.signal, status: r.status, out: last ? JSON.parse(last) : null, stderr: r.stderr };
}

describe.each(await providers())("crash recovery on %s", (provider) => {
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
  /** a normal install in this process (only the step under test needs a child to kill) */
  const installHere = async (dir: string) => {
    const inst = await h.open();
    await inst.install({ source: dir, method: "cli" }, actor);
    await inst.close();
  };
  const install = (dir: string) => ({
    options: h.options(),
    op: "install",
    request: { source: dir, method: "cli" },
  });

  const attemptFiles = () => fs.readdirSync(path.join(h.packsDir, ".attempts"));

  it("a kill before the intent is journaled (fetching, checking) is recorded as interrupted on the next start", async () => {
    const dir = writePack(path.join(src.dir, "core"), { ref: "core", version: "1.0.0" });
    // right after the fetch: a local directory's ref is known from its pack.yaml before the copy
    expect(runChild({ ...install(dir), tokenId: 7 }, "after-fetch").signal).toBe("SIGKILL");
    expect(attemptFiles()).toHaveLength(1);
    const inst = await h.open();
    expect(inst.lastReconcile?.interrupted).toEqual([
      {
        ref: "core",
        version: "1.0.0",
        operation: "install",
        resolution: "rolled_back",
        detail: "interrupted while checking the pack, before anything was stored; nothing was installed",
      },
    ]);
    expect(attemptFiles()).toEqual([]);
    expect(packDirs(h.packsDir)).toEqual([]);
    const [event] = await inst.history("core");
    expect(event).toMatchObject({
      action: "install",
      outcome: "interrupted",
      version: "1.0.0",
      source_type: "local_directory",
      source_url: dir,
      actor_name: "child",
      error:
        "EINTERRUPTED: interrupted while checking the pack, before anything was stored; nothing was installed",
      details: {
        resolution: "rolled_back",
        phase: "validate",
        requested_source: dir,
        force: false,
        token_id: 7,
        pid: expect.any(Number),
        host: os.hostname(),
        started_at: expect.stringMatching(/^\d{4}-/),
      },
    });
    // checking the pack, under its lock, before the journal: recorded once, with that phase
    expect(runChild(install(dir), "before-journal").signal).toBe("SIGKILL");
    await inst.reconcile();
    expect((await inst.history("core")).map((e) => [e.outcome, e.details.phase])).toEqual([
      ["interrupted", "validate"],
      ["interrupted", "validate"],
    ]);
    // a second reconcile finds nothing more to record
    expect((await inst.reconcile()).interrupted).toEqual([]);
    await inst.install({ source: dir, method: "cli" }, actor);
    expect(attemptFiles()).toEqual([]);
    await inst.close();
  });

  it("a kill before an archive's ref is known is reported as unnamed (no history can take it)", async () => {
    const tgz = makeTarGz(
      writePack(path.join(src.dir, "core"), { ref: "core", version: "1.0.0" }),
      path.join(src.dir, "core.tgz"),
    );
    expect(runChild(install(tgz), "after-fetch").signal).toBe("SIGKILL");
    const inst = await h.open();
    expect(inst.lastReconcile).toMatchObject({
      interrupted: [],
      unnamed: [{ requested_source: tgz, pid: expect.any(Number), host: os.hostname() }],
    });
    await expect(inst.history("core")).rejects.toMatchObject({ code: "ENOTFOUND" });
    expect(attemptFiles()).toEqual([]);
    await inst.close();
  });

  it("an install that ends (either way) leaves no attempt behind; a failure is recorded once, as failed", async () => {
    const inst = await h.open();
    const dir = writePack(path.join(src.dir, "core"), { ref: "core", version: "1.0.0" });
    await inst.install({ source: dir, method: "cli" }, actor);
    await expect(inst.install({ source: dir, method: "cli" }, actor)).rejects.toMatchObject({
      code: "ECONFLICT",
    });
    expect(attemptFiles()).toEqual([]);
    await inst.reconcile();
    expect((await inst.history("core")).map((e) => e.outcome)).toEqual(["success", "failure"]);
    await inst.close();
  });

  it("a kill between the storage move and the commit is adopted on the next start", async () => {
    const dir = writePack(path.join(src.dir, "core"), { ref: "core", version: "1.0.0" });
    const crashed = runChild(install(dir), "after-store");
    expect(crashed.signal).toBe("SIGKILL");
    expect(packDirs(h.packsDir)).toEqual(["core-1.0.0"]); // files moved, no row yet
    const inst = await h.open();
    expect(inst.lastReconcile).toMatchObject({
      interrupted: [{ ref: "core", version: "1.0.0", operation: "install", resolution: "adopted" }],
      missingFiles: [],
      untracked: [],
      busy: [],
      failed: [],
    });
    const shown = await inst.show("core");
    expect(shown.installation).toMatchObject({
      checksum: await calculateDirectoryChecksum(dir),
      source_type: "local_directory",
    });
    expect((await inst.verify("core")).ok).toBe(true);
    expect((await inst.history("core"))[0]).toMatchObject({
      action: "install",
      outcome: "interrupted",
      details: expect.objectContaining({ resolution: "adopted" }),
    });
    expect(fs.readdirSync(path.join(h.packsDir, ".journal"))).toEqual([]);
  });

  it("a kill after the intent but before the move is rolled back", async () => {
    const dir = writePack(path.join(src.dir, "core"), { ref: "core", version: "1.0.0" });
    expect(runChild(install(dir), "after-journal").signal).toBe("SIGKILL");
    const inst = await h.open();
    expect(inst.lastReconcile?.interrupted).toEqual([
      expect.objectContaining({ ref: "core", resolution: "rolled_back" }),
    ]);
    await expect(inst.show("core")).rejects.toMatchObject({ code: "ENOTFOUND" });
    expect(packDirs(h.packsDir)).toEqual([]);
    expect((await inst.history("core")).map((e) => e.outcome)).toEqual(["interrupted"]);
    // when and where the attempt itself ran (the event's own time is the reconcile's)
    const [event] = await inst.history("core");
    expect(event.details).toMatchObject({
      started_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      pid: expect.any(Number),
      host: os.hostname(),
    });
    expect(Date.parse(event.details.started_at as string)).toBeLessThanOrEqual(Date.parse(event.created));
    // and the ref is usable again at once
    await inst.install({ source: dir, method: "cli" }, actor);
  });

  it("a forced reinstall killed before its move says nothing was stored, and its error has a code", async () => {
    const dir = writePack(path.join(src.dir, "core"), { ref: "core", version: "1.0.0" });
    await installHere(dir);
    const changed = writePack(path.join(src.dir, "core-x"), { ref: "core", version: "1.0.0" });
    fs.writeFileSync(path.join(changed, "extra.txt"), "extra\n");
    const request = { source: changed, method: "cli", force: true };
    expect(runChild({ ...install(changed), request }, "after-journal").signal).toBe("SIGKILL");
    const inst = await h.open();
    // the installed version's own files were found in place: not "the stored files differ", which
    // reads as tampering
    expect(inst.lastReconcile?.interrupted).toEqual([
      {
        ref: "core",
        version: "1.0.0",
        operation: "install",
        resolution: "rolled_back",
        detail: "nothing was stored (the installed files are still those recorded)",
      },
    ]);
    expect((await inst.verify("core")).ok).toBe(true);
    expect((await inst.history("core")).at(-2)).toMatchObject({
      outcome: "interrupted",
      error:
        "EINTERRUPTED: interrupted before the database commit; rolled back: nothing was stored (the installed files are still those recorded)",
    });
  });

  it("a forced reinstall killed before its move, over files changed by hand, does not blame the install", async () => {
    const dir = writePack(path.join(src.dir, "core"), { ref: "core", version: "1.0.0" });
    await installHere(dir);
    fs.appendFileSync(path.join(h.packsDir, "core-1.0.0", "pack.yaml"), "# changed by hand\n");
    const changed = writePack(path.join(src.dir, "core-x"), { ref: "core", version: "1.0.0" });
    fs.writeFileSync(path.join(changed, "extra.txt"), "extra\n");
    const request = { source: changed, method: "cli", force: true };
    expect(runChild({ ...install(changed), request }, "after-journal").signal).toBe("SIGKILL");
    const inst = await h.open();
    const [settled] = inst.lastReconcile?.interrupted ?? [];
    expect(settled).toMatchObject({ ref: "core", resolution: "rolled_back" });
    expect(settled.detail).toBe(
      "the installed files of core 1.0.0 match neither the recorded checksum nor the new one (changed outside attune); they were kept as they are: run `attune pack verify core`",
    );
    // kept, and verify names the change
    expect(fs.readFileSync(path.join(h.packsDir, "core-1.0.0", "pack.yaml"), "utf8")).toMatch(
      /changed by hand/,
    );
    const verified = await inst.verify("core");
    expect(verified.ok).toBe(false);
  });

  it("a rolled-back install keeps who started it: the identity, not only the name", async () => {
    const dir = writePack(path.join(src.dir, "core"), { ref: "core", version: "1.0.0" });
    const first = await h.open();
    const alice = await repositories((await first.database()).db).identities.create({ name: "alice" });
    await first.close();
    expect(runChild({ ...install(dir), actorId: alice.id, actor: "alice" }, "after-journal").signal).toBe(
      "SIGKILL",
    );
    const inst = await h.open();
    expect(inst.lastReconcile?.interrupted).toEqual([expect.objectContaining({ resolution: "rolled_back" })]);
    expect(await inst.history("core")).toEqual([
      expect.objectContaining({ outcome: "interrupted", actor_id: alice.id, actor_name: "alice" }),
    ]);
  });

  // file locks (PostgreSQL's are advisory locks in the server)
  (provider === "sqlite" ? it : it.skip)(
    "a ref whose lock cannot even be made waits for its repair; the installer still opens",
    async () => {
      const dir = writePack(path.join(src.dir, "core"), { ref: "core", version: "1.0.0" });
      expect(runChild(install(dir), "after-journal").signal).toBe("SIGKILL");
      // the lock directory cannot be created (what a read-only or full packs filesystem does)
      const locks = path.join(h.packsDir, ".locks");
      fs.rmSync(locks, { recursive: true, force: true });
      fs.writeFileSync(locks, "not a directory");
      const inst = await h.open();
      expect(inst.lastReconcile?.failed).toEqual([expect.objectContaining({ ref: "core", code: "EIO" })]);
      expect((await inst.list()).totalItems).toBe(0); // the rest works
      fs.rmSync(locks);
      const again = await h.open();
      expect(again.lastReconcile?.interrupted).toEqual([
        expect.objectContaining({ ref: "core", resolution: "rolled_back" }),
      ]);
    },
  );

  it("a kill while the intent was being written leaves a temporary file that the next start removes", async () => {
    // what a SIGKILL between creating the journal's temporary file and renaming it leaves behind
    const journal = path.join(h.packsDir, ".journal");
    fs.mkdirSync(journal, { recursive: true });
    fs.writeFileSync(path.join(journal, "core.json.0123456789ab.tmp"), '{"v":1,"ref":"co');
    fs.writeFileSync(path.join(journal, "not a ref.json.0123456789ab.tmp"), "not ours: left alone");
    const inst = await h.open();
    expect(fs.readdirSync(journal)).toEqual(["not a ref.json.0123456789ab.tmp"]);
    expect(inst.lastReconcile?.interrupted).toEqual([]); // nothing had happened yet: nothing to record
    const dir = writePack(path.join(src.dir, "core"), { ref: "core", version: "1.0.0" });
    await inst.install({ source: dir, method: "cli" }, actor);
    await inst.close();
  });

  it("a kill after the commit of an upgrade finishes removing the old version", async () => {
    const v1 = writePack(path.join(src.dir, "v1"), { ref: "core", version: "1.0.0" });
    const v2 = writePack(path.join(src.dir, "v2"), { ref: "core", version: "2.0.0" });
    await installHere(v1);
    expect(runChild(install(v2), "after-commit").signal).toBe("SIGKILL");
    expect(packDirs(h.packsDir)).toEqual(["core-1.0.0", "core-2.0.0"]);
    const inst = await h.open();
    expect(inst.lastReconcile?.interrupted).toEqual([expect.objectContaining({ resolution: "completed" })]);
    expect(packDirs(h.packsDir)).toEqual(["core-2.0.0"]);
    expect((await inst.show("core")).pack.version).toBe("2.0.0");
    expect((await inst.history("core")).map((e) => `${e.action}/${e.outcome}`)).toEqual([
      "install/success",
      "upgrade/success",
    ]);
  });

  it("an interrupted upgrade keeps the previous version when the new files are not the verified ones", async () => {
    const v1 = writePack(path.join(src.dir, "v1"), { ref: "core", version: "1.0.0" });
    const v2 = writePack(path.join(src.dir, "v2"), { ref: "core", version: "2.0.0" });
    await installHere(v1);
    expect(runChild(install(v2), "after-store").signal).toBe("SIGKILL");
    // someone alters the new, uncommitted files before the next start
    fs.appendFileSync(path.join(h.packsDir, "core-2.0.0", "pack.yaml"), "# altered\n");
    const inst = await h.open();
    expect(inst.lastReconcile?.interrupted).toEqual([expect.objectContaining({ resolution: "rolled_back" })]);
    expect((await inst.show("core")).pack.version).toBe("1.0.0");
    expect(packDirs(h.packsDir)).toEqual(["core-1.0.0"]);
    expect((await inst.verify("core")).ok).toBe(true);
  });

  it("an interrupted install whose rows cannot be written is rolled back, not retried forever", async () => {
    const dir = writePack(path.join(src.dir, "core"), { ref: "core", version: "1.0.0" });
    // the installing identity does not exist, so the adoption's insert violates a foreign key
    expect(runChild({ ...install(dir), actorId: 999_999 }, "after-store").signal).toBe("SIGKILL");
    const inst = await h.open();
    expect(inst.lastReconcile).toMatchObject({
      interrupted: [
        { ref: "core", resolution: "rolled_back", detail: expect.stringContaining("could not be written") },
      ],
      failed: [],
    });
    expect(packDirs(h.packsDir)).toEqual([]);
    expect((await inst.history("core"))[0]).toMatchObject({
      outcome: "interrupted",
      actor_id: null,
      actor_name: "child",
    });
    expect((await inst.reconcile()).interrupted).toEqual([]);
  });

  it("a kill during uninstall after the commit removes the files on the next start", async () => {
    const dir = writePack(path.join(src.dir, "core"), { ref: "core", version: "1.0.0" });
    await installHere(dir);
    expect(
      runChild({ options: h.options(), op: "uninstall", ref: "core" }, "uninstall-after-commit").signal,
    ).toBe("SIGKILL");
    expect(packDirs(h.packsDir)).toEqual(["core-1.0.0"]);
    const inst = await h.open();
    expect(inst.lastReconcile?.interrupted).toEqual([
      expect.objectContaining({ operation: "uninstall", resolution: "completed" }),
    ]);
    expect(packDirs(h.packsDir)).toEqual([]);
  });

  it("flags rows without files and files without rows, and leaves them in place", async () => {
    const inst0 = await h.open();
    const a = await inst0.install(
      { source: writePack(path.join(src.dir, "a"), { ref: "alpha", version: "1.0.0" }), method: "cli" },
      actor,
    );
    await inst0.close();
    fs.rmSync(a.installation.storage_path); // the link only: the row now points at nothing
    const stray = writePack(path.join(h.packsDir, "stray-0.1.0"), { ref: "stray", version: "0.1.0" });
    const inst = await h.open();
    expect(inst.lastReconcile).toMatchObject({
      interrupted: [],
      missingFiles: [{ ref: "alpha", version: "1.0.0" }],
      untracked: [{ ref: "stray", version: "0.1.0", path: stray }],
    });
    expect(fs.existsSync(stray)).toBe(true);
    expect((await inst.show("alpha")).pack.version).toBe("1.0.0");
    // the stray version can be removed explicitly
    await inst.uninstall("stray", { actor, version: "0.1.0" });
    expect(fs.existsSync(stray)).toBe(false);
  });
});
