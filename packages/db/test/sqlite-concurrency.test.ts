import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { expect, it } from "@jest/globals";
import { tmpDir } from "@attune/test-utils";
import { migrationStatus, openDatabase } from "../src";
import { PACKAGE_DIR } from "./helpers";

const WRITER = path.join(PACKAGE_DIR, "test/fixtures/writer.mjs");
const COUNT = 60;

function runWriter(
  home: string,
  name: string,
  count = COUNT,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, home, name, String(count)], {
      env: { ...process.env, NODE_OPTIONS: "" },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

it("two processes create, migrate and write one SQLite file concurrently without losing a write", async () => {
  expect(fs.existsSync(path.join(PACKAGE_DIR, "dist/index.js"))).toBe(true); // the writers run the built package
  const t = tmpDir("attune-db-conc-");
  try {
    const [a, b] = await Promise.all([runWriter(t.dir, "alpha"), runWriter(t.dir, "beta")]);
    expect({ code: a.code, stderr: a.stderr }).toEqual({ code: 0, stderr: "" });
    expect({ code: b.code, stderr: b.stderr }).toEqual({ code: 0, stderr: "" });
    const upgrades = JSON.parse(a.stdout).upgrades + JSON.parse(b.stdout).upgrades;
    expect(upgrades).toBe(2 * COUNT - 1); // every transaction but the very first saw "shared"

    const url = `file:${path.join(t.dir, "attune.db")}`;
    expect((await migrationStatus(url)).pending).toEqual([]);
    const { db, close } = await openDatabase({ home: t.dir });
    try {
      expect(await db.pack.count()).toBe(2 * COUNT + 1);
      expect(await db.packInstallation.count()).toBe(2 * COUNT);
      expect(await db.installEvent.count({ where: { action: "install" } })).toBe(2 * COUNT);
      expect(await db.installEvent.count({ where: { packRef: "shared" } })).toBe(2 * COUNT);
      for (const name of ["alpha", "beta"])
        expect(await db.pack.count({ where: { ref: { startsWith: `${name}-` } } })).toBe(COUNT);
    } finally {
      await close();
    }
  } finally {
    t.cleanup();
  }
});

it("two processes creating one new store at the same instant both open it (WAL switch retried)", async () => {
  // turning a new file to WAL needs a moment's exclusive lock, which SQLite refuses at once (no busy
  // wait) to one of two processes doing it together: before the retry, 1 pair in 8 to 1 in 40 failed here
  for (let round = 0; round < 24; round++) {
    const t = tmpDir("attune-db-wal-");
    try {
      const [a, b] = await Promise.all([runWriter(t.dir, "alpha", 1), runWriter(t.dir, "beta", 1)]);
      expect({ round, code: a.code, stderr: a.stderr }).toEqual({ round, code: 0, stderr: "" });
      expect({ round, code: b.code, stderr: b.stderr }).toEqual({ round, code: 0, stderr: "" });
    } finally {
      t.cleanup();
    }
  }
});
