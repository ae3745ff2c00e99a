// Proof (issue 7), small version of scripts/stress/crash.mjs: the built CLI is SIGKILLed at the
// installer's named crash points (test-only ATTUNE_TEST_CRASH_AT), the next open reconciles, and
// the store must hold exactly one legal state: no partial tree at a final path, the recorded
// checksum on disk, no files without a row, and an `interrupted` history event per repaired crash.
import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "@jest/globals";
import { openInstaller } from "@attune/installer";
import { calculateDirectoryChecksum } from "@attune/pack-storage";
import { tmpDir } from "@attune/test-utils";
import { makePack } from "./fixtures";
import { baseEnv, runCli } from "./helpers";

const tmp = tmpDir("attune-cli-crash-");
const home = path.join(tmp.dir, "home");
const env = baseEnv({ ATTUNE_HOME: home });
const src = (v: string) =>
  makePack(path.join(tmp.dir, `src-${v}`), "crash_proof", v, { [`data/${v}.txt`]: `${v}\n`.repeat(1000) });
const sums: Record<string, string> = {};

afterAll(() => tmp.cleanup());

async function crash(args: string[], point: string) {
  const r = await runCli([...args, "-o", "json", "-q"], { env: { ...env, ATTUNE_TEST_CRASH_AT: point } });
  expect(r.code).toBeNull(); // killed by its own SIGKILL, not exited
}

/** Open (= reconcile) and check the invariants; returns the recorded version and the events. */
async function recover() {
  const inst = await openInstaller({ home, env: {}, lockStaleMs: 2000 });
  try {
    const report = inst.lastReconcile!;
    expect(report).toMatchObject({ missingFiles: [], untracked: [], busy: [] });
    const rows = (await inst.list({})).items;
    const version = rows[0]?.pack.version ?? null;
    const packsDir = inst.storage.packsDir;
    const entries = fs.readdirSync(packsDir).filter((n) => !n.startsWith("."));
    expect(entries).toEqual(version ? [`crash_proof-${version}`] : []);
    for (const d of [".staging", ".journal", ".trash", ".attempts"])
      expect(fs.existsSync(path.join(packsDir, d)) ? fs.readdirSync(path.join(packsDir, d)) : []).toEqual([]);
    if (version) {
      const onDisk = await calculateDirectoryChecksum(fs.realpathSync(path.join(packsDir, entries[0]!)));
      expect(onDisk).toBe(sums[version]);
      expect(rows[0]!.installation?.checksum).toBe(sums[version]);
      expect((await inst.verify("crash_proof")).ok).toBe(true);
    }
    const events = (await inst.history("crash_proof")).filter((e) => e.action !== "verify");
    return { version, report, events };
  } finally {
    await inst.close();
  }
}

describe("SIGKILL at each crash point, then reconcile (built CLI, SQLite)", () => {
  it("every crash point leaves exactly one legal state and a history record", async () => {
    for (const v of ["1.0.0", "2.0.0"]) sums[v] = await calculateDirectoryChecksum(src(v));

    // 1. first install dies after writing its intent: rolled back, nothing installed
    await crash(["pack", "install", src("1.0.0")], "after-journal");
    let s = await recover();
    expect(s.version).toBeNull();
    expect(s.report.interrupted).toMatchObject([{ resolution: "rolled_back" }]);
    expect(s.events.map((e) => e.outcome)).toEqual(["interrupted"]);

    // 2. dies between the storage move and the DB commit: the verified files are adopted
    await crash(["pack", "install", src("1.0.0")], "after-store");
    s = await recover();
    expect(s.version).toBe("1.0.0");
    expect(s.report.interrupted).toMatchObject([{ resolution: "adopted" }]);
    expect(s.events.at(-1)).toMatchObject({ outcome: "interrupted", version: "1.0.0" });

    // 3. upgrade dies after the commit: completed (old version's files removed)
    await crash(["pack", "install", src("2.0.0")], "after-commit");
    s = await recover();
    expect(s.version).toBe("2.0.0");
    expect(s.report.interrupted).toMatchObject([{ resolution: "completed" }]);
    expect(s.events.at(-1)).toMatchObject({ outcome: "success", version: "2.0.0" });

    // 4. downgrade dies after the move: adopted as the new version, the other one removed
    await crash(["pack", "install", src("1.0.0")], "after-store");
    s = await recover();
    expect(s.version).toBe("1.0.0");
    expect(s.events.filter((e) => e.outcome === "interrupted")).toHaveLength(3);

    // 5. uninstall dies after its commit: the files go too
    await crash(["pack", "uninstall", "crash_proof", "--yes"], "uninstall-after-commit");
    s = await recover();
    expect(s.version).toBeNull();
    expect(s.report.interrupted).toMatchObject([{ operation: "uninstall", resolution: "completed" }]);
    expect(s.events.at(-1)).toMatchObject({ action: "uninstall", outcome: "success" });
  }, 600_000);

  it("the next command says what the repair did", async () => {
    await crash(["pack", "install", src("1.0.0")], "after-journal");
    // as if the dead process's lock had gone stale (10 s) meanwhile
    const lock = path.join(home, "packs", ".locks", "crash_proof.lock");
    const past = new Date(Date.now() - 60_000);
    fs.utimesSync(lock, past, past);
    const r = await runCli(["pack", "list", "-o", "json"], { env });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      /^attune: notice: an interrupted install of crash_proof 1\.0\.0 was rolled back .*`attune pack history crash_proof`$/m,
    );
    // once repaired, nothing more is said
    expect((await runCli(["pack", "list", "-o", "json"], { env })).stderr).toBe("");
  }, 120_000);
});
