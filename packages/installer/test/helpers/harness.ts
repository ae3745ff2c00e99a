import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createTestDatabase, postgresAvailable, tmpDir } from "@attune/test-utils";
import { acquirePostgresLock, migrate } from "@attune/db";
import { openInstaller, type Installer, type InstallerOptions } from "../../src/index";
import { FileLocker } from "../../src/locks";
import { loopbackEnv } from "./fixtures";

export type Provider = "sqlite" | "postgresql";

/** sqlite always; postgresql when a server is reachable (required in CI, see @attune/test-utils) */
export async function providers(): Promise<Provider[]> {
  return (await postgresAvailable()) ? ["sqlite", "postgresql"] : ["sqlite"];
}

export interface Harness {
  root: string;
  home: string;
  packsDir: string;
  databaseUrl: string | undefined;
  options(extra?: Partial<InstallerOptions>): InstallerOptions;
  open(extra?: Partial<InstallerOptions>): Promise<Installer>;
  cleanup(): Promise<void>;
}

/** A fresh ATTUNE_HOME (and a fresh PostgreSQL database for that provider). */
export async function makeHarness(provider: Provider, env: Record<string, string> = {}): Promise<Harness> {
  const tmp = tmpDir("attune-installer-");
  const home = path.join(tmp.dir, "home");
  fs.mkdirSync(home);
  let databaseUrl: string | undefined;
  let drop = async () => undefined as void;
  if (provider === "postgresql") {
    const db = await createTestDatabase("attune_installer");
    await migrate(db.url);
    databaseUrl = db.url;
    drop = db.drop;
  }
  const opened: Installer[] = [];
  const options = (extra: Partial<InstallerOptions> = {}): InstallerOptions => ({
    home,
    databaseUrl,
    env: loopbackEnv(env),
    lockStaleMs: 2_000,
    lockTimeoutMs: 30_000,
    ...extra,
  });
  return {
    root: tmp.dir,
    home,
    packsDir: path.join(home, "packs"),
    databaseUrl,
    options,
    async open(extra) {
      const i = await openInstaller(options(extra));
      opened.push(i);
      return i;
    },
    async cleanup() {
      for (const i of opened) await i.close().catch(() => undefined);
      await drop();
      tmp.cleanup();
    },
  };
}

/** entries of the packs directory that are packs (not our .locks/.journal nor storage internals) */
export function packDirs(packsDir: string): string[] {
  return fs
    .readdirSync(packsDir)
    .filter((n) => !n.startsWith("."))
    .sort();
}

/** hold a ref's lock the way another live installer process would (file lock or advisory lock) */
export async function holdRefLock(h: Harness, ref: string): Promise<{ release(): Promise<void> }> {
  if (h.databaseUrl) return acquirePostgresLock(h.databaseUrl, `pack:${ref}`);
  return new FileLocker(path.join(h.packsDir, ".locks"), 2_000).acquire(ref, { timeoutMs: 1_000 });
}

/** Hold the store's dependency lock (PackLocker.acquireDependencies) as another process would. */
export async function holdDependencyLock(h: Harness): Promise<{ release(): Promise<void> }> {
  if (h.databaseUrl) return acquirePostgresLock(h.databaseUrl, "store:dependencies");
  return new FileLocker(path.join(h.packsDir, ".locks"), 2_000).acquireDependencies({ timeoutMs: 1_000 });
}

/**
 * Hold the embedded store's write lock from another process (`BEGIN IMMEDIATE`), as a stuck
 * writer would, until release(); SQLite harnesses only.
 */
export async function holdSqliteWriteLock(h: Harness): Promise<{ release(): void }> {
  const dbPkg = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../../db/package.json");
  const holder = spawn(
    process.execPath,
    [
      "-e",
      `const D = require(require("node:module").createRequire(${JSON.stringify(dbPkg)}).resolve("better-sqlite3"));
       const db = new D(${JSON.stringify(path.join(h.home, "attune.db"))}); db.exec("BEGIN IMMEDIATE");
       process.stdout.write("held\\n"); setTimeout(() => {}, 60000);`,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  await new Promise((r) => holder.stdout!.once("data", r));
  return { release: () => void holder.kill("SIGKILL") };
}
