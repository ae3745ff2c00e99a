import fs from "node:fs";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import { calculateDirectoryChecksum, calculateFileChecksum, packPathBudget } from "@attune/pack-storage";
import { KeptContents } from "@attune/pack-registry";
import { serveRoutes, tmpDir, type RouteServer } from "@attune/test-utils";
import type { Installer, ProgressEvent } from "../src/index";
import { makeTarGz, writePack } from "./helpers/fixtures";
import {
  holdDependencyLock,
  holdRefLock,
  holdSqliteWriteLock,
  makeHarness,
  packDirs,
  providers,
  type Harness,
} from "./helpers/harness";

const actor = { identityId: null, name: "tester" };
const cli = { method: "cli" as const };

describe.each(await providers())("install flow on %s", (provider) => {
  let h: Harness;
  let inst: Installer;
  let src: ReturnType<typeof tmpDir>;
  beforeEach(async () => {
    h = await makeHarness(provider);
    inst = await h.open();
    src = tmpDir("attune-src-");
  });
  afterEach(async () => {
    src.cleanup();
    await h.cleanup();
  });
  const pack = (
    ref: string,
    version: string,
    extra: Parameters<typeof writePack>[1] extends infer S ? Partial<S> : never = {},
  ) => writePack(path.join(src.dir, `${ref}-${version}`), { ref, version, ...extra });

  it("installs a local directory: files in versioned storage, rows, history, progress", async () => {
    const dir = pack("core", "1.0.0", { runtimeDeps: ["python3"] });
    const events: ProgressEvent[] = [];
    const r = await inst.install({ source: dir, ...cli }, actor, { onProgress: (e) => events.push(e) });
    expect(r.created).toBe(true);
    expect(r.action).toBe("install");
    expect(r.runtimeDeps).toEqual(["python3"]);
    expect(r.pack).toMatchObject({
      ref: "core",
      version: "1.0.0",
      label: "core pack",
      tags: ["test"],
      runtime_deps: ["python3"],
    });
    expect(r.installation).toMatchObject({
      source_type: "local_directory",
      checksum: await calculateDirectoryChecksum(dir),
      checksum_verified: false,
      installation_method: "cli",
      installed_by: null,
      meta: expect.objectContaining({ force: false, skip_deps: false, expected_checksum: null }),
    });
    expect(fs.readFileSync(path.join(r.installation.storage_path, "actions/hello.py"), "utf8")).toContain(
      "core 1.0.0",
    );
    expect(packDirs(h.packsDir)).toEqual(["core-1.0.0"]);
    const phases = [...new Set(events.map((e) => e.phase))];
    expect(phases.slice(-5)).toEqual(["validate", "dependencies", "hash", "store", "record"]);
    expect(events.find((e) => e.phase === "hash" && e.files)?.files).toBe(3);
    expect(await inst.show("core")).toEqual({ pack: r.pack, installation: r.installation });
    const hist = await inst.history("core");
    expect(hist.map((e) => [e.action, e.outcome, e.actor_name])).toEqual([["install", "success", "tester"]]);
  });

  it("refuses a pack with a path that would fit in staging but not where the store puts it", async () => {
    // a long ref and version make the store's directory name ~220 bytes: a path inside the pack
    // that is within 4096 bytes on its own would pass PATH_MAX once stored (verify then failed
    // with ENAMETOOLONG and an uninstall left it in the trash for good)
    const ref = `r${"x".repeat(63)}`;
    const version = `1.0.0-${"a".repeat(122)}`;
    const budget = packPathBudget(h.packsDir);
    const dir = pack(ref, version);
    // 15 directories of 240 bytes and a file: over the budget, under 4096
    const parts = Array.from({ length: 15 }, (_, i) => `d${String(i).padStart(2, "0")}${"a".repeat(237)}`);
    const rel = [...parts, "f".repeat(200)].join("/");
    expect(Buffer.byteLength(rel)).toBeGreaterThan(budget);
    expect(Buffer.byteLength(rel)).toBeLessThan(4096 - Buffer.byteLength(dir) - 1);
    fs.mkdirSync(path.join(dir, ...parts), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), "deep\n");
    await expect(inst.install({ source: dir, ...cli }, actor)).rejects.toMatchObject({
      code: "ETOO_LARGE",
      details: { limit: "maxPathBytes" },
      hint: expect.stringMatching(/must fit in the system's 4096 bytes/),
    });
    const tgz = makeTarGz(dir, path.join(src.dir, "deep.tgz"));
    const kept = KeptContents.processBytes();
    await expect(inst.install({ source: tgz, ...cli }, actor)).rejects.toMatchObject({
      code: "ETOO_LARGE",
      details: { limit: "maxPathBytes" },
    });
    // what the refused extraction had kept for hashing is given back at once (it waited for GC)
    expect(KeptContents.processBytes()).toBe(kept);
    expect(packDirs(h.packsDir)).toEqual([]);
    // a path within the budget installs, verifies and uninstalls
    fs.rmSync(path.join(dir, parts[0]), { recursive: true });
    const fits = [...parts.slice(0, 12), "f".repeat(100)].join("/");
    expect(Buffer.byteLength(fits)).toBeLessThanOrEqual(budget);
    fs.mkdirSync(path.dirname(path.join(dir, fits)), { recursive: true });
    fs.writeFileSync(path.join(dir, fits), "fits\n");
    await inst.install({ source: dir, ...cli }, actor);
    expect((await inst.verify(ref)).ok).toBe(true);
    await inst.uninstall(ref, { actor, method: "cli" });
    expect(fs.readdirSync(path.join(h.packsDir, ".trash"))).toEqual([]);
  });

  it("refuses a packs directory whose path leaves packs too little of PATH_MAX", async () => {
    // 15 components of 250 bytes: ~3,800 bytes before the store's own names
    const long = path.join(h.root, ...Array.from({ length: 15 }, (_, i) => `${i}${"p".repeat(248)}`));
    fs.mkdirSync(long, { recursive: true });
    await expect(h.open({ packsDir: long })).rejects.toMatchObject({
      code: "ECONFIG",
      message: expect.stringMatching(/^the packs directory's path is \d+ bytes long: .* \d+ bytes left/),
      hint: expect.stringContaining("use a packs directory with a shorter path"),
    });
  });

  it("refuses to reinstall the same version without force, and reinstalls with it", async () => {
    const dir = pack("core", "1.0.0");
    await inst.install({ source: dir, ...cli }, actor);
    await expect(inst.install({ source: dir, ...cli }, actor)).rejects.toMatchObject({
      code: "ECONFLICT",
      hint: expect.stringContaining("force"),
    });
    const r = await inst.install({ source: dir, force: true, ...cli }, actor);
    expect(r).toMatchObject({
      created: false,
      action: "reinstall",
      installation: { meta: expect.objectContaining({ force: true }) },
    });
    const hist = await inst.history("core");
    expect(hist.map((e) => `${e.action}/${e.outcome}`)).toEqual([
      "install/success",
      "failed/failure",
      "reinstall/success",
    ]);
    expect(hist[1].error).toMatch(/^ECONFLICT/);
  });

  it("refuses a source inside the packs directory (its own copy, which a reinstall would retire)", async () => {
    const dir = pack("core", "1.0.0");
    await inst.install({ source: dir, ...cli }, actor);
    const stored = (await inst.show("core")).installation!.storage_path;
    for (const source of [stored, path.join(stored, "pack.yaml", ".."), h.packsDir]) {
      await expect(inst.install({ source, force: true, ...cli }, actor)).rejects.toMatchObject({
        code: "EINVALID_INPUT",
        details: { field: "source" },
        message: expect.stringContaining("is inside the packs directory"),
        hint: expect.stringContaining("attune pack show <ref>"),
      });
    }
    expect((await inst.show("core")).installation!.source_url).toBe(dir);
    expect((await inst.verify("core")).ok).toBe(true);
  });

  it("a forced reinstall repairs an install whose stored files are gone, or a stray file in its place", async () => {
    const dir = pack("core", "1.0.0");
    await inst.install({ source: dir, ...cli }, actor);
    const entry = path.join(h.packsDir, "core-1.0.0");
    fs.rmSync(fs.realpathSync(entry), { recursive: true }); // the link now dangles
    await expect(inst.install({ source: dir, ...cli }, actor)).rejects.toMatchObject({ code: "ECONFLICT" });
    await inst.install({ source: dir, force: true, ...cli }, actor);
    expect((await inst.verify("core")).ok).toBe(true);
    fs.rmSync(entry); // the link itself replaced by a plain file
    fs.writeFileSync(entry, "not a pack");
    await inst.install({ source: dir, force: true, ...cli }, actor);
    expect(fs.readdirSync(entry).sort()).toEqual(fs.readdirSync(dir).sort());
    expect((await inst.verify("core")).ok).toBe(true);
  });

  it("upgrades and downgrades: new directory, old one removed after the commit", async () => {
    await inst.install({ source: pack("core", "1.0.0"), ...cli }, actor);
    const up = await inst.install({ source: pack("core", "2.0.0"), ...cli }, actor);
    expect(up).toMatchObject({
      created: false,
      action: "upgrade",
      previousVersion: "1.0.0",
      pack: { version: "2.0.0" },
    });
    expect(packDirs(h.packsDir)).toEqual(["core-2.0.0"]);
    const down = await inst.install({ source: pack("core", "1.0.0"), ...cli }, actor);
    expect(down.action).toBe("downgrade");
    const last = (await inst.history("core")).at(-1)!;
    expect(last).toMatchObject({
      action: "upgrade",
      details: expect.objectContaining({ downgrade: true, previous_version: "2.0.0" }),
    });
  });

  it("a checksum mismatch installs nothing and is recorded as failed", async () => {
    const dir = pack("core", "1.0.0");
    const wrong = `sha256:${"0".repeat(64)}`;
    const err = await inst.install({ source: dir, checksum: wrong, ...cli }, actor).catch((e) => e);
    expect(err).toMatchObject({
      code: "EINTEGRITY",
      expected: wrong,
      found: await calculateDirectoryChecksum(dir),
    });
    await expect(inst.show("core")).rejects.toMatchObject({ code: "ENOTFOUND" });
    expect(packDirs(h.packsDir)).toEqual([]);
    expect((await inst.list()).totalItems).toBe(0);
    const hist = await inst.history("core");
    expect(hist).toEqual([
      expect.objectContaining({
        action: "failed",
        outcome: "failure",
        error: expect.stringMatching(/^EINTEGRITY/),
      }),
    ]);
    // nothing left behind: no staging dir, no journal entry, no lock
    const nonEmpty = fs
      .readdirSync(h.packsDir)
      .filter((n) => n !== ".locks")
      // (the store's own files, such as its id, start with "." too)
      .filter(
        (n) =>
          !n.startsWith(".") ||
          fs.readdirSync(path.join(h.packsDir, n)).filter((e) => !e.startsWith(".")).length > 0,
      );
    expect(nonEmpty).toEqual([]);
  });

  it("a failed upgrade leaves the previous version installed and recorded", async () => {
    const v1 = await inst.install({ source: pack("core", "1.0.0"), ...cli }, actor);
    const bad = pack("core", "2.0.0");
    await expect(
      inst.install({ source: bad, checksum: `sha256:${"1".repeat(64)}`, ...cli }, actor),
    ).rejects.toMatchObject({
      code: "EINTEGRITY",
    });
    expect(await inst.show("core")).toEqual({ pack: v1.pack, installation: v1.installation });
    expect(packDirs(h.packsDir)).toEqual(["core-1.0.0"]);
    expect((await inst.verify("core")).ok).toBe(true);
    expect((await inst.history("core")).map((e) => e.action)).toEqual(["install", "failed", "verify"]);
  });

  it("pages the history in the database: page 1 the newest, each page oldest first, kept after uninstall", async () => {
    await inst.install({ source: pack("core", "1.0.0"), ...cli }, actor);
    for (let i = 0; i < 5; i++) await inst.verify("core", actor, "cli");
    await inst.uninstall("core", { actor, method: "cli" });
    const all = await inst.history("core"); // install, 5 verifies, uninstall
    expect(all.map((e) => e.action)).toEqual(["install", ...Array(5).fill("verify"), "uninstall"]);
    const p1 = await inst.historyPage("core", { pageSize: 3 });
    expect(p1).toEqual({ items: all.slice(4), page: 1, pageSize: 3, totalItems: 7, totalPages: 3 });
    expect((await inst.historyPage("core", { page: 2, pageSize: 3 })).items).toEqual(all.slice(1, 4));
    expect((await inst.historyPage("core", { page: 3, pageSize: 3 })).items).toEqual(all.slice(0, 1));
    // past the last page: empty, with the totals; the defaults: page 1 of 20
    expect(await inst.historyPage("core", { page: 4, pageSize: 3 })).toEqual({
      items: [],
      page: 4,
      pageSize: 3,
      totalItems: 7,
      totalPages: 3,
    });
    expect(await inst.historyPage("core")).toEqual({
      items: all,
      page: 1,
      pageSize: 20,
      totalItems: 7,
      totalPages: 1,
    });
    // a ref never seen is unknown on any page; bad numbers name their field
    for (const page of [1, 2])
      await expect(inst.historyPage("nothing", { page })).rejects.toMatchObject({
        code: "ENOTFOUND",
        message: "pack 'nothing' has no history: it was never installed here",
      });
    for (const [filter, field] of [
      [{ page: 0 }, "page"],
      [{ page: 1.5 }, "page"],
      [{ pageSize: 0 }, "page_size"],
      [{ pageSize: 501 }, "page_size"],
    ] as const)
      await expect(inst.historyPage("core", filter)).rejects.toMatchObject({
        code: "EINVALID_INPUT",
        details: { field },
      });
    await expect(inst.historyPage("Bad Ref")).rejects.toMatchObject({ code: "EINVALID_REF" });
  });

  it("a database failure after the move rolls the upgrade back and keeps the previous version", async () => {
    const v1 = await inst.install({ source: pack("core", "1.0.0"), ...cli }, actor);
    // an identity that does not exist violates installed_by's foreign key inside the transaction
    const ghost = { identityId: 999_999, name: "ghost" };
    await expect(inst.install({ source: pack("core", "2.0.0"), ...cli }, ghost)).rejects.toMatchObject({
      code: "ENOTFOUND", // @attune/db maps a foreign-key violation to ENOTFOUND
    });
    expect(await inst.show("core")).toEqual({ pack: v1.pack, installation: v1.installation });
    expect(packDirs(h.packsDir)).toEqual(["core-1.0.0"]);
    expect((await inst.verify("core")).ok).toBe(true);
    const failed = (await inst.history("core")).find((e) => e.action === "failed");
    expect(failed).toMatchObject({
      outcome: "failure",
      version: "2.0.0",
      actor_name: "ghost",
      actor_id: null,
    });
    expect(inst.lastReconcile).toEqual({
      interrupted: [],
      missingFiles: [],
      untracked: [],
      busy: [],
      failed: [],
      unnamed: [],
    });
    expect((await inst.reconcile()).interrupted).toEqual([]);
  });

  it("a verified caller checksum is recorded", async () => {
    const dir = pack("core", "1.0.0");
    const sum = await calculateDirectoryChecksum(dir);
    const r = await inst.install(
      { source: dir, checksum: sum.toUpperCase().replace("SHA256", "sha256"), ...cli },
      actor,
    );
    expect(r.installation).toMatchObject({
      checksum: sum,
      checksum_verified: true,
      meta: expect.objectContaining({ expected_checksum: sum }),
    });
  });

  it("checks dependencies unless skipped", async () => {
    const app = pack("app", "1.0.0", { dependencies: ["base@^1.2.0"] });
    await expect(inst.install({ source: app, ...cli }, actor)).rejects.toMatchObject({
      code: "EDEPENDENCY",
      details: expect.objectContaining({ problems: [{ ref: "base", range: "^1.2.0", installed: null }] }),
    });
    expect((await inst.history("app")).at(-1)).toMatchObject({
      action: "failed",
      details: expect.objectContaining({ problems: [{ ref: "base", range: "^1.2.0", installed: null }] }),
    });
    await inst.install({ source: pack("base", "1.1.0"), ...cli }, actor);
    await expect(inst.install({ source: app, ...cli }, actor)).rejects.toMatchObject({ code: "EDEPENDENCY" });
    const skipped = await inst.install({ source: app, skipDeps: true, ...cli }, actor);
    expect(skipped.installation.meta).toMatchObject({ skip_deps: true });
    // what skip_deps let through is said in the result
    expect(skipped.unmetDependencies).toEqual([{ ref: "base", range: "^1.2.0", installed: "1.1.0" }]);
    expect(skipped.brokenDependents).toEqual([]);
    await inst.install({ source: pack("base", "1.3.0"), ...cli }, actor);
    const ok = await inst.install({ source: app, force: true, ...cli }, actor);
    expect(ok.pack.dependencies).toEqual(["base@^1.2.0"]);
    expect(ok).toMatchObject({ unmetDependencies: [], brokenDependents: [] });
    // skip_deps with nothing to skip says nothing
    const fine = await inst.install({ source: app, force: true, skipDeps: true, ...cli }, actor);
    expect(fine).toMatchObject({ unmetDependencies: [], brokenDependents: [] });
    // an upgrade past a dependent's range names the dependent it leaves without
    const up = await inst.install({ source: pack("base", "2.0.0"), skipDeps: true, ...cli }, actor);
    expect(up).toMatchObject({
      action: "upgrade",
      unmetDependencies: [],
      brokenDependents: [{ ref: "app", version: "1.0.0", range: "^1.2.0" }],
    });
    // and so does a reinstall of that version: the state it leaves is as broken
    const again = await inst.install(
      { source: pack("base", "2.0.0"), force: true, skipDeps: true, ...cli },
      actor,
    );
    expect(again).toMatchObject({
      action: "reinstall",
      brokenDependents: [{ ref: "app", version: "1.0.0", range: "^1.2.0" }],
    });
  });

  it("refuses an upgrade, downgrade or uninstall that would break an installed dependent, unless skipped", async () => {
    await inst.install({ source: pack("base", "1.3.0"), ...cli }, actor);
    await inst.install({ source: pack("app", "1.0.0", { dependencies: ["base@^1.2.0"] }), ...cli }, actor);
    await inst.install({ source: pack("tool", "2.0.0", { dependencies: ["base"] }), ...cli }, actor);
    // a version the dependent accepts, and a forced reinstall, are fine
    await inst.install({ source: pack("base", "1.4.0"), ...cli }, actor);
    await inst.install({ source: pack("base", "1.4.0"), force: true, ...cli }, actor);
    // an upgrade out of app's range is refused, naming app and what it needs; nothing changes
    const up = await inst.install({ source: pack("base", "2.0.0"), ...cli }, actor).catch((e: unknown) => e);
    expect(up).toMatchObject({
      code: "EDEPENDENCY",
      message:
        "installing base 2.0.0 would break installed packs that depend on it: app 1.0.0 (needs base@^1.2.0)",
      hint: expect.stringMatching(/--skip-deps\) to install anyway$/),
      details: { field: "dependencies", dependents: [{ ref: "app", version: "1.0.0", range: "^1.2.0" }] },
    });
    expect((await inst.show("base")).pack.version).toBe("1.4.0");
    expect((await inst.history("base")).at(-1)).toMatchObject({
      action: "failed",
      version: "2.0.0",
      // the history names what the refusal was about, as a refused uninstall's event does
      details: expect.objectContaining({
        code: "EDEPENDENCY",
        dependents: [{ ref: "app", version: "1.0.0", range: "^1.2.0" }],
      }),
    });
    // a downgrade likewise
    await expect(inst.install({ source: pack("base", "1.0.0"), ...cli }, actor)).rejects.toMatchObject({
      code: "EDEPENDENCY",
    });
    // uninstall names every dependent (a bare dependency counts) and keeps everything
    await expect(inst.uninstall("base", { actor, method: "cli" })).rejects.toMatchObject({
      code: "EDEPENDENCY",
      message:
        "pack 'base' is needed by installed packs: app 1.0.0 (needs base@^1.2.0), tool 2.0.0 (needs base@*)",
    });
    expect(packDirs(h.packsDir).sort()).toEqual(["app-1.0.0", "base-1.4.0", "tool-2.0.0"]);
    expect((await inst.show("base")).installation).not.toBeNull();
    // once app is gone, an upgrade is fine (tool takes any version); skip_deps overrides the rest
    await inst.uninstall("app", { actor, method: "cli" });
    await inst.install({ source: pack("base", "2.0.0"), ...cli }, actor);
    await expect(inst.uninstall("base", { actor, method: "cli" })).rejects.toMatchObject({
      code: "EDEPENDENCY",
    });
    const gone = await inst.uninstall("base", { actor, method: "cli", skipDeps: true });
    expect(gone.brokenDependents).toEqual([{ ref: "tool", version: "2.0.0", range: "*" }]);
    expect((await inst.history("base")).at(-1)).toMatchObject({
      action: "uninstall",
      details: expect.objectContaining({
        skip_deps: true,
        broken_dependents: [{ ref: "tool", version: "2.0.0", range: "*" }],
      }),
    });
    expect(packDirs(h.packsDir)).toEqual(["tool-2.0.0"]);
    // nothing depends on tool: its uninstall reports nothing broken, skip_deps or not
    expect((await inst.uninstall("tool", { actor, method: "cli", skipDeps: true })).brokenDependents).toEqual(
      [],
    );
  });

  it("an uninstall refused by a dependency cycle says how to break it, instead of naming an impossible order", async () => {
    await inst.install(
      { source: pack("cyca", "1.0.0", { dependencies: ["cycb"] }), skipDeps: true, ...cli },
      actor,
    );
    await inst.install({ source: pack("cycb", "1.0.0", { dependencies: ["cyca"] }), ...cli }, actor);
    await inst.install({ source: pack("user", "1.0.0", { dependencies: ["cyca"] }), ...cli }, actor);
    await expect(inst.uninstall("cyca", { actor, method: "cli" })).rejects.toMatchObject({
      code: "EDEPENDENCY",
      message:
        "pack 'cyca' is needed by installed packs: cycb 1.0.0 (needs cyca@*), user 1.0.0 (needs cyca@*)",
      hint: "cyca and cycb need each other (a dependency cycle), so neither can go first: uninstall user first, then uninstall cyca with skip_deps (--skip-deps), then cycb",
    });
    await expect(inst.uninstall("cycb", { actor, method: "cli" })).rejects.toMatchObject({
      hint: "cycb and cyca need each other (a dependency cycle), so neither can go first: uninstall cycb with skip_deps (--skip-deps), then cyca",
    });
    // the way the hint gives works
    await inst.uninstall("user", { actor, method: "cli" });
    await inst.uninstall("cyca", { actor, method: "cli", skipDeps: true });
    await inst.uninstall("cycb", { actor, method: "cli" });
    expect(packDirs(h.packsDir)).toEqual([]);
  });

  it("checks dependencies again under the store's dependency lock, right before the commit", async () => {
    await inst.install({ source: pack("base", "1.0.0"), ...cli }, actor);
    const held = await holdDependencyLock(h);
    let settled = false;
    // app passes its first check (base is there), then waits for the dependency lock
    const app = inst.install({ source: pack("app", "1.0.0", { dependencies: ["base@^1"] }), ...cli }, actor);
    void app.then(
      () => (settled = true),
      () => (settled = true),
    );
    // an install without dependencies that changes no version does not need that lock
    await inst.install({ source: pack("solo", "1.0.0"), ...cli }, actor);
    await new Promise((r) => setTimeout(r, 300));
    expect(settled).toBe(false);
    // meanwhile base goes (skip_deps: no check, no lock), as a racing uninstall would have
    await inst.uninstall("base", { actor, method: "cli", skipDeps: true });
    await held.release();
    await expect(app).rejects.toMatchObject({ code: "EDEPENDENCY" });
    expect(packDirs(h.packsDir).sort()).toEqual(["solo-1.0.0"]);
    // a refused uninstall is in the history; a skip_deps one says so
    await inst.install({ source: pack("base", "1.0.0"), ...cli }, actor);
    await inst.install({ source: pack("app", "1.0.0", { dependencies: ["base@^1"] }), ...cli }, actor);
    await expect(inst.uninstall("base", { actor, method: "cli" })).rejects.toMatchObject({
      code: "EDEPENDENCY",
    });
    expect((await inst.history("base")).at(-1)).toMatchObject({
      action: "failed",
      outcome: "failure",
      error: expect.stringMatching(/^EDEPENDENCY: pack 'base' is needed by installed packs: app 1\.0\.0/),
      details: expect.objectContaining({ operation: "uninstall" }),
    });
    await inst.uninstall("base", { actor, method: "cli", skipDeps: true });
    expect((await inst.history("base")).at(-1)).toMatchObject({
      action: "uninstall",
      details: expect.objectContaining({ skip_deps: true }),
    });
  });

  it("installs a local archive in the GitHub tarball layout, verifying the archive checksum", async () => {
    const dir = pack("core", "1.2.0");
    const tgz = makeTarGz(dir, path.join(src.dir, "core.tgz"), "core-1.2.0");
    const sum = await calculateFileChecksum(tgz);
    const kept = KeptContents.processBytes();
    const r = await inst.install({ source: tgz, checksum: sum, ...cli }, actor);
    expect(r.installation).toMatchObject({
      source_type: "local_archive",
      checksum: await calculateDirectoryChecksum(dir),
      checksum_verified: true,
    });
    expect(fs.existsSync(path.join(r.installation.storage_path, "pack.yaml"))).toBe(true);
    // the bytes kept for hashing are given back, after success and after failures before or after hashing
    expect(KeptContents.processBytes()).toBe(kept);
    await expect(inst.install({ source: tgz, ...cli }, actor)).rejects.toMatchObject({ code: "ECONFLICT" });
    const wrong = `sha256:${"0".repeat(64)}`;
    await expect(
      inst.install({ source: tgz, checksum: wrong, force: true, ...cli }, actor),
    ).rejects.toMatchObject({
      code: "EINTEGRITY",
    });
    expect(KeptContents.processBytes()).toBe(kept);
  });

  it("records each file's SHA-256 of an archive of many files right (hashed on the writing thread)", async () => {
    const dir = pack("wide", "1.0.0");
    for (let i = 0; i < 300; i++) {
      fs.mkdirSync(path.join(dir, `d${i % 4}`), { recursive: true });
      fs.writeFileSync(path.join(dir, `d${i % 4}`, `f${i}.txt`), `file ${i}\n`.repeat(i % 40));
    }
    const tgz = makeTarGz(dir, path.join(src.dir, "wide.tgz"), "wide-1.0.0");
    const r = await inst.install({ source: tgz, ...cli }, actor);
    expect(r.installation.checksum).toBe(await calculateDirectoryChecksum(dir));
    // one file changes in storage: verify names exactly that one, so every other recorded digest
    // (most computed by the thread that wrote the files) matches the bytes on disk
    fs.appendFileSync(path.join(r.installation.storage_path, "d2", "f150.txt"), "changed\n");
    expect(await inst.verify("wide")).toMatchObject({
      ok: false,
      changed: ["d2/f150.txt"],
      added: [],
      removed: [],
    });
  });

  it("a pack.yaml that is invalid but names a valid ref files the failure under that ref", async () => {
    const dir = pack("broken", "1.0.0");
    fs.writeFileSync(path.join(dir, "pack.yaml"), "ref: broken\nversion: 1.0\nname: Broken\n");
    await expect(inst.install({ source: dir, ...cli }, actor)).rejects.toMatchObject({ code: "EMANIFEST" });
    expect(await inst.history("broken")).toEqual([
      expect.objectContaining({
        action: "failed",
        source_type: "local_directory",
        source_url: dir,
        version: null,
        error: expect.stringMatching(/^EMANIFEST/),
      }),
    ]);
    // a ref that is itself invalid has no history to go to
    fs.writeFileSync(path.join(dir, "pack.yaml"), "ref: Not A Ref\nversion: 1.0.0\n");
    await expect(inst.install({ source: dir, ...cli }, actor)).rejects.toMatchObject({ code: "EMANIFEST" });
    expect(packDirs(h.packsDir)).toEqual([]);
  });

  it("verify reports changed, added and removed files, and appends to the history", async () => {
    const r = await inst.install({ source: pack("core", "1.0.0"), ...cli }, actor);
    expect(await inst.verify("core", actor)).toMatchObject({
      ok: true,
      fileListAvailable: true,
      changed: [],
      added: [],
      removed: [],
    });
    const p = r.installation.storage_path;
    fs.appendFileSync(path.join(p, "actions/hello.py"), "import os\n");
    fs.writeFileSync(path.join(p, "actions/evil.sh"), "rm -rf /\n");
    fs.rmSync(path.join(p, "actions/hello.yaml"));
    const report = await inst.verify("core", actor);
    expect(report).toMatchObject({
      ref: "core",
      ok: false,
      expected: r.installation.checksum,
      changed: ["actions/hello.py"],
      added: ["actions/evil.sh"],
      removed: ["actions/hello.yaml"],
    });
    expect(report.actual).not.toBe(r.installation.checksum);
    expect((await inst.verifyAll(actor, "cli")).map((v) => v.ok)).toEqual([false]);
    const events = await inst.history("core");
    // who verified and how: named and --all alike
    expect(events.at(-2)).toMatchObject({ action: "verify", outcome: "failure", actor_name: actor.name });
    expect(events.at(-1)).toMatchObject({
      action: "verify",
      outcome: "failure",
      actor_name: actor.name,
      method: "cli",
    });
    await expect(inst.verify("nope")).rejects.toMatchObject({ code: "ENOTFOUND" });
  });

  // a held SQLite write lock (PostgreSQL does not block appends that way)
  (provider === "sqlite" ? it : it.skip)(
    "verify still reports when its history event cannot be written (a locked database)",
    async () => {
      await inst.install({ source: pack("core", "1.0.0"), ...cli }, actor);
      // another process holds the write lock for longer than the busy timeout (10 s)
      const lock = await holdSqliteWriteLock(h);
      try {
        const report = await inst.verify("core", actor, "cli");
        expect(report).toMatchObject({ ok: true, historyError: expect.stringMatching(/^ELOCKED: /) });
      } finally {
        lock.release();
      }
      expect((await inst.history("core")).map((e) => e.action)).toEqual(["install"]);
    },
    60_000,
  );

  (provider === "sqlite" ? it : it.skip)(
    "an uninstall the database refuses (locked) leaves no journal to 'repair' later",
    async () => {
      await inst.install({ source: pack("core", "1.0.0"), ...cli }, actor);
      const lock = await holdSqliteWriteLock(h);
      try {
        await expect(inst.uninstall("core", { actor, method: "cli" })).rejects.toMatchObject({
          code: "ELOCKED",
        });
      } finally {
        lock.release();
      }
      expect(fs.readdirSync(path.join(h.packsDir, ".journal"))).toEqual([]);
      const fresh = await h.open();
      expect(fresh.lastReconcile?.interrupted).toEqual([]);
      expect((await fresh.show("core")).pack.version).toBe("1.0.0");
      expect((await fresh.history("core")).map((e) => e.action)).toEqual(["install"]);
    },
    60_000,
  );

  it("verify reads and records through the direct paths alone (never starts the ORM)", async () => {
    await inst.install({ source: pack("core", "1.0.0"), ...cli }, actor);
    const fresh = await h.open();
    try {
      const store = (Reflect.get(fresh, "ctx") as { store: { database: () => Promise<unknown> } }).store;
      store.database = () => Promise.reject(new Error("verify must not start Prisma"));
      expect(await fresh.verify("core", actor)).toMatchObject({ ok: true, fileListAvailable: true });
      fs.appendFileSync(
        path.join((await fresh.show("core")).installation!.storage_path, "pack.yaml"),
        "# x\n",
      );
      expect(await fresh.verify("core", actor)).toMatchObject({ ok: false, changed: ["pack.yaml"] });
    } finally {
      await fresh.close();
    }
    expect((await inst.history("core")).map((e) => `${e.action}:${e.outcome}`)).toEqual([
      "install:success",
      "verify:success",
      "verify:failure",
    ]);
  });

  it("verify reports a planted symlink and a deleted directory as tampering", async () => {
    const r = await inst.install({ source: pack("core", "1.0.0"), ...cli }, actor);
    fs.symlinkSync("/etc/passwd", path.join(r.installation.storage_path, "actions", "link"));
    // named inside the pack, not by its storage path; the history gives the same reason
    const linked = "ESYMLINK: actions/link is a symbolic link; packs may not contain links";
    expect(await inst.verify("core")).toMatchObject({ ok: false, actual: null, error: linked });
    expect((await inst.history("core")).at(-1)).toMatchObject({
      action: "verify",
      outcome: "failure",
      error: linked,
    });
    // the pack's directory swapped for a link to a look-alike elsewhere: not hashed, not "gone"
    const real = fs.realpathSync(r.installation.storage_path);
    const lookAlike = pack("core", "1.0.0");
    fs.rmSync(real, { recursive: true });
    fs.symlinkSync(lookAlike, real);
    expect(await inst.verify("core")).toMatchObject({
      ok: false,
      actual: null,
      removed: [],
      error:
        "ESYMLINK: core-1.0.0 is not the directory the store made (a symbolic link to another place is in its place)",
    });
    fs.rmSync(real);
    // the store's own link left with its content directory deleted: gone, every file removed
    const emptied = await inst.verify("core");
    expect(emptied).toMatchObject({
      ok: false,
      actual: null,
      error: "ENOENT: the content of core-1.0.0 is gone from the store (its link is left)",
    });
    expect(emptied.removed).toEqual(["actions/hello.py", "actions/hello.yaml", "pack.yaml"]);
    fs.rmSync(r.installation.storage_path, { recursive: true, force: true });
    const gone = await inst.verify("core");
    expect(gone).toMatchObject({
      ok: false,
      actual: null,
      error: "ENOENT: core-1.0.0 is gone from the packs directory",
    });
    expect(gone.removed).toEqual(["actions/hello.py", "actions/hello.yaml", "pack.yaml"]);
    expect((await inst.history("core")).at(-1)).toMatchObject({
      action: "verify",
      error: `EINTEGRITY: expected ${r.installation.checksum}, but the pack's directory is gone`,
    });
  });

  it("verifyAll leaves out a pack uninstalled after it listed the packs (not ENOTFOUND)", async () => {
    await inst.install({ source: pack("core", "1.0.0"), ...cli }, actor);
    await inst.install({ source: pack("extra", "1.0.0"), ...cli }, actor);
    // the list as it was before another process uninstalled `core`
    const store = (inst as unknown as { ctx: { store: { all(): Promise<unknown[]> } } }).ctx.store;
    const before = await store.all();
    await inst.uninstall("core", { actor, method: "cli" });
    const all = store.all.bind(store);
    store.all = async () => before;
    try {
      expect((await inst.verifyAll(actor, "cli")).map((v) => [v.ref, v.ok])).toEqual([["extra", true]]);
    } finally {
      store.all = all;
    }
  });

  it("uninstalls: files and rows gone, history kept", async () => {
    await inst.install({ source: pack("core", "1.0.0"), ...cli }, actor);
    const res = await inst.uninstall("core", { actor, method: "cli" });
    expect(res).toEqual({ ref: "core", removed: ["1.0.0"], recordDeleted: true, brokenDependents: [] });
    expect(packDirs(h.packsDir)).toEqual([]);
    await expect(inst.show("core")).rejects.toMatchObject({ code: "ENOTFOUND" });
    expect((await inst.history("core")).map((e) => e.action)).toEqual(["install", "uninstall"]);
    await expect(inst.uninstall("core", { actor })).rejects.toMatchObject({ code: "ENOTFOUND" });
    await expect(inst.uninstall("../etc", { actor })).rejects.toMatchObject({ code: "EINVALID_REF" });
    // a recorded version whose files were already gone is still reported as removed
    await inst.install({ source: pack("core", "1.0.0"), ...cli }, actor);
    fs.rmSync(fs.realpathSync(path.join(h.packsDir, "core-1.0.0")), { recursive: true });
    expect(await inst.uninstall("core", { actor })).toEqual({
      ref: "core",
      removed: ["1.0.0"],
      recordDeleted: true,
      brokenDependents: [],
    });
    expect(packDirs(h.packsDir)).toEqual([]);
    await expect(inst.history("never")).rejects.toMatchObject({ code: "ENOTFOUND" });
  });

  it("an untracked version's uninstall records no source (not the recorded version's); a token's id is kept", async () => {
    await inst.install({ source: pack("core", "1.0.0"), ...cli }, actor);
    writePack(path.join(h.packsDir, "core-7.7.7"), { ref: "core", version: "7.7.7" }); // files, no row
    const byToken = { ...actor, tokenId: 42 };
    expect(await inst.uninstall("core", { actor: byToken, method: "api", version: "7.7.7" })).toMatchObject({
      removed: ["7.7.7"],
      recordDeleted: false,
    });
    expect((await inst.history("core")).at(-1)).toMatchObject({
      action: "uninstall",
      version: "7.7.7",
      source_type: null,
      source_url: null,
      details: { untracked: true, token_id: 42 },
    });
    expect((await inst.history("core")).at(-1)!.details).not.toHaveProperty("skip_deps");
    // skip_deps is recorded for an untracked version's removal too
    writePack(path.join(h.packsDir, "core-8.8.8"), { ref: "core", version: "8.8.8" });
    await inst.uninstall("core", { actor, method: "cli", version: "8.8.8", skipDeps: true });
    expect((await inst.history("core")).at(-1)).toMatchObject({
      version: "8.8.8",
      details: { untracked: true, skip_deps: true },
    });
    // the recorded version's own uninstall keeps its source; without a token, no token_id
    await inst.uninstall("core", { actor, method: "cli" });
    const last = (await inst.history("core")).at(-1)!;
    expect(last).toMatchObject({ version: "1.0.0", source_type: "local_directory" });
    expect(last.details).not.toHaveProperty("token_id");
  });

  it("lists with a source-type filter and pages", async () => {
    for (const ref of ["aa", "bb", "cc"]) await inst.install({ source: pack(ref, "1.0.0"), ...cli }, actor);
    const page = await inst.list({ page: 2, pageSize: 2 });
    expect(page).toMatchObject({ page: 2, pageSize: 2, totalItems: 3, totalPages: 2 });
    expect(page.items.map((i) => i.pack.ref)).toHaveLength(1);
    expect((await inst.list({ sourceType: "git" })).totalItems).toBe(0);
    expect((await inst.list({ sourceType: "local_directory" })).totalItems).toBe(3);
    await expect(inst.list({ page: 0 })).rejects.toMatchObject({
      code: "EINVALID_INPUT",
      details: { field: "page" },
    });
    await expect(inst.list({ sourceType: "ftp" as never })).rejects.toMatchObject({
      details: { field: "source_type" },
    });
  });

  it("serialises concurrent installs of one ref; different refs run side by side", async () => {
    const dir = pack("core", "1.0.0");
    const results = await Promise.allSettled([
      inst.install({ source: dir, ...cli }, actor),
      inst.install({ source: dir, ...cli }, actor),
      inst.install({ source: pack("other", "1.0.0"), ...cli }, actor),
    ]);
    const [a, b, c] = results;
    expect([a.status, b.status].sort()).toEqual(["fulfilled", "rejected"]);
    const rejected = (a.status === "rejected" ? a : b) as PromiseRejectedResult;
    expect(rejected.reason).toMatchObject({ code: "ECONFLICT" });
    expect(c.status).toBe("fulfilled");
    expect(packDirs(h.packsDir)).toEqual(["core-1.0.0", "other-1.0.0"]);
    expect((await inst.list()).totalItems).toBe(2);
  });

  it("waits for another process's lock on the ref, then gives up with ELOCKED and installs nothing", async () => {
    const other = await holdRefLock(h, "core");
    try {
      const impatient = await h.open({ lockTimeoutMs: 1_500 });
      const events: ProgressEvent[] = [];
      const err = await impatient
        .install({ source: pack("core", "1.0.0"), ...cli }, actor, { onProgress: (e) => events.push(e) })
        .catch((e) => e);
      expect(err).toMatchObject({ code: "ELOCKED" });
      // the wait is said once (a progress line), not spent in silence
      expect(events.filter((e) => e.phase === "wait")).toEqual([
        { phase: "wait", message: "for another operation on pack 'core'" },
      ]);
      expect(packDirs(h.packsDir)).toEqual([]);
      expect((await impatient.history("core")).map((e) => e.error)).toEqual([
        expect.stringMatching(/^ELOCKED/),
      ]);
      // another ref is not blocked
      await impatient.install({ source: pack("free", "1.0.0"), ...cli }, actor);
    } finally {
      await other.release();
    }
    await inst.install({ source: pack("core", "1.0.0"), ...cli }, actor);
  });

  it("reconcile leaves a ref alone while a live process holds its lock (busy)", async () => {
    writePack(path.join(h.packsDir, "core-9.9.9"), { ref: "core", version: "9.9.9" });
    const other = await holdRefLock(h, "core");
    try {
      const r = await (await h.open()).reconcile();
      expect(r).toMatchObject({ busy: ["core"], untracked: [] });
    } finally {
      await other.release();
    }
    expect((await inst.reconcile()).untracked).toEqual([
      expect.objectContaining({ ref: "core", version: "9.9.9" }),
    ]);
  });

  it("honours an abort until the storage move, and installs nothing", async () => {
    const ac = new AbortController();
    const abortAtHash = (e: ProgressEvent) => e.phase === "hash" && ac.abort();
    await expect(
      inst.install({ source: pack("core", "1.0.0"), ...cli }, actor, {
        signal: ac.signal,
        onProgress: abortAtHash,
      }),
    ).rejects.toMatchObject({ code: "EABORTED", details: { aborted: true } });
    expect(packDirs(h.packsDir)).toEqual([]);
    await expect(inst.show("core")).rejects.toMatchObject({ code: "ENOTFOUND" });
  });

  it("shares its database with the caller (the same client its writes go through)", async () => {
    const { repositories } = await import("@attune/db");
    await inst.install({ source: pack("core", "1.0.0"), ...cli }, actor);
    const database = await inst.database();
    expect(database.provider).toBe(provider);
    expect((await inst.database()).db).toBe(database.db); // one client, not one per call
    expect((await repositories(database.db).packs.findByRef("core"))?.version).toBe("1.0.0");
  });

  it("rejects bad requests before fetching anything", async () => {
    await expect(inst.install({ source: "", ...cli }, actor)).rejects.toMatchObject({
      details: { field: "source" },
    });
    await expect(inst.install({ source: "x", method: "ftp" as never }, actor)).rejects.toMatchObject({
      details: { field: "method" },
    });
    await expect(
      inst.install({ source: pack("core", "1.0.0"), checksum: "md5:1", ...cli }, actor),
    ).rejects.toMatchObject({
      code: "EINVALID_CHECKSUM",
    });
    // an empty expected checksum (an unset variable in a script) is refused, not "no checksum"
    await expect(
      inst.install({ source: pack("core", "1.0.0"), checksum: "", ...cli }, actor),
    ).rejects.toMatchObject({ code: "EINVALID_CHECKSUM" });
    await expect(
      inst.install({ source: path.join(src.dir, "missing"), ...cli }, actor),
    ).rejects.toHaveProperty("code");
    expect(packDirs(h.packsDir)).toEqual([]);
  });

  it("refuses local paths outside the allowed roots (API mode)", async () => {
    const api = await h.open({ localSourceRoots: [] });
    await expect(api.install({ source: pack("core", "1.0.0"), method: "api" }, actor)).rejects.toMatchObject({
      code: expect.stringMatching(/EPOLICY|EINVALID_INPUT|EFORBIDDEN/),
    });
  });
});

describe("remote sources", () => {
  let h: Harness;
  let inst: Installer;
  let src: ReturnType<typeof tmpDir>;
  let http: RouteServer;
  beforeAll(async () => {
    http = await serveRoutes();
  });
  afterAll(async () => http.close());
  beforeEach(async () => {
    h = await makeHarness("sqlite");
    inst = await h.open();
    src = tmpDir("attune-src-");
  });
  afterEach(async () => {
    src.cleanup();
    await h.cleanup();
  });

  it("installs an archive URL from a real HTTP server", async () => {
    const dir = writePack(path.join(src.dir, "p"), { ref: "web", version: "1.0.0" });
    const tgz = makeTarGz(dir, path.join(src.dir, "web.tgz"));
    http.file("/web-1.0.0.tgz", fs.readFileSync(tgz), "application/gzip");
    const r = await inst.install({ source: `${http.url}/web-1.0.0.tgz`, ...cli }, actor);
    expect(r.installation).toMatchObject({
      source_type: "archive",
      source_url: `${http.url}/web-1.0.0.tgz`,
      checksum: await calculateDirectoryChecksum(dir),
      meta: expect.objectContaining({ archive_checksum: await calculateFileChecksum(tgz) }),
    });
  });

  it("a 404 archive URL fails cleanly and leaves nothing", async () => {
    await expect(inst.install({ source: `${http.url}/missing.tgz`, ...cli }, actor)).rejects.toMatchObject({
      code: expect.stringMatching(/EFETCH|ENOTFOUND/),
    });
    expect(packDirs(h.packsDir)).toEqual([]);
  });
});
