import fs from "node:fs";
import path from "node:path";
import type { Db } from "@attune/db";
import {
  AttuneError,
  ErrorCodes,
  isAttuneError,
  PackStorage,
  packPathBudget,
  SettingChecks,
} from "@attune/pack-storage";
import {
  DEFAULT_EXTRACT_LIMITS,
  OutboundPolicy,
  RegistryClient,
  readConfigFile,
  readPackSettings,
  type AttuneConfigFile,
  type ExtractLimits,
  type PackSettings,
} from "@attune/pack-registry";
import type { InstallerContext } from "./context";
import { openRecordStore } from "./db-store";
import type { RecordStore } from "./store";
import { install } from "./install";
import { Attempts } from "./attempts";
import { Journal } from "./journal";
import { FileLocker, type PackLocker } from "./locks";
import { PostgresLocker } from "./pg-lock";
import { history, historyPage, list, show } from "./queries";
import { reconcile } from "./reconcile";
import { resolveSettings, type InstallerOptions, type ResolvedSettings } from "./settings";
import { uninstall, type UninstallOptions } from "./uninstall";
import { verify } from "./verify";
import type {
  Actor,
  EventJson,
  HistoryFilter,
  HistoryPage,
  InstallRequest,
  InstallationMethod,
  InstallResult,
  ListFilter,
  ListResult,
  OperationOptions,
  PackWithInstallation,
  ReconcileReport,
  UninstallResult,
  VerifyReport,
} from "./types";

/** How long `ready()` waits for the database by default (ms). */
export const READY_TIMEOUT_MS = 2_000;

/** The install/uninstall/verify service; one per process, shared by all requests. */
export class Installer {
  /** what `reconcile()` did while opening (null when opened with `reconcile: false`) */
  lastReconcile: ReconcileReport | null = null;

  constructor(
    private readonly ctx: InstallerContext,
    readonly config: AttuneConfigFile,
  ) {}

  get settings(): ResolvedSettings {
    return this.ctx.settings;
  }
  get registries(): RegistryClient {
    return this.ctx.registries;
  }
  get policy(): OutboundPolicy {
    return this.ctx.policy;
  }
  get storage(): PackStorage {
    return this.ctx.storage;
  }
  get provider(): "sqlite" | "postgresql" {
    return this.ctx.store.provider;
  }
  /**
   * The installer's database, for callers that need other repositories on the same client (the
   * API's token store: `repositories((await installer.database()).db).tokens`). Starts Prisma if
   * no operation has yet; closed by `close()`.
   */
  async database(): Promise<{ db: Db; provider: "sqlite" | "postgresql"; url: string }> {
    return {
      db: await this.ctx.store.database(),
      provider: this.ctx.store.provider,
      url: this.ctx.store.url,
    };
  }

  install(req: InstallRequest, actor: Actor, opts?: OperationOptions): Promise<InstallResult> {
    return install(this.ctx, req, actor, opts);
  }
  uninstall(ref: string, opts: UninstallOptions): Promise<UninstallResult> {
    return uninstall(this.ctx, ref, opts);
  }
  /** Re-hash an installed pack; the `verify` event records `actor` and `method` (who and how). */
  verify(ref: string, actor?: Actor, method?: InstallationMethod): Promise<VerifyReport> {
    return verify(this.ctx, ref, actor, method);
  }
  /** Every installed pack; one uninstalled by another process meanwhile is left out, not an error. */
  async verifyAll(actor?: Actor, method?: InstallationMethod): Promise<VerifyReport[]> {
    const reports: VerifyReport[] = [];
    for (const rec of await this.ctx.store.all()) {
      if (!rec.installation) continue;
      try {
        reports.push(await verify(this.ctx, rec.pack.ref, actor, method));
      } catch (e) {
        if (!isAttuneError(e) || e.code !== ErrorCodes.ENOTFOUND) throw e;
      }
    }
    return reports;
  }
  list(filter: ListFilter = {}): Promise<ListResult> {
    return list(this.ctx, filter);
  }
  /**
   * An opaque tag that changes whenever a write (by any process) may have changed what `list`
   * returns, so a caller can reuse a list it built while the tag is the same. Null when the store
   * cannot tell (PostgreSQL): then never reuse.
   */
  listVersion(): Promise<string | null> {
    return this.ctx.store.listVersion();
  }
  show(ref: string): Promise<PackWithInstallation> {
    return show(this.ctx, ref);
  }
  history(ref: string): Promise<EventJson[]> {
    return history(this.ctx, ref);
  }
  /**
   * One page of the history (paged in the database): page 1 holds the newest `pageSize` events,
   * each page oldest first; `totalItems` counts every event of the ref.
   */
  historyPage(ref: string, filter: HistoryFilter = {}): Promise<HistoryPage> {
    return historyPage(this.ctx, ref, filter);
  }
  /**
   * Whether this installer can serve requests now (the API's readiness probe): the database answers
   * a trivial query within `timeoutMs` (an SQLite file deleted or replaced under the process fails
   * it), and the packs directory is still the store (PackStorage.checkIntact). Rejects with the typed error otherwise:
   * EDATABASE, ETIMEOUT, ENOENT or EIO.
   */
  async ready(timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new AttuneError(ErrorCodes.ETIMEOUT, `the database did not answer within ${timeoutMs} ms`, {
              hint: "check that the database server is up and reachable, and not overloaded",
            }),
          ),
        timeoutMs,
      );
    });
    try {
      await Promise.race([this.ctx.store.ping(), late]);
    } finally {
      clearTimeout(timer);
    }
    await this.ctx.storage.checkIntact();
  }
  async reconcile(): Promise<ReconcileReport> {
    this.lastReconcile = await reconcile(this.ctx);
    return this.lastReconcile;
  }
  close(): Promise<void> {
    return this.ctx.store.close();
  }
}

/**
 * A packs directory that does not exist while the database records installed packs is a mistyped
 * --packs-dir (or a lost directory): going on would make an empty one and report every pack
 * tampered, in each pack's history too. Refuse before creating anything.
 */
async function refuseMissingPacksDir(store: RecordStore, dir: string): Promise<void> {
  const installed = (await store.all()).filter((r) => r.installation !== null).length;
  if (installed === 0) return;
  throw new AttuneError(
    ErrorCodes.ECONFIG,
    `the packs directory ${dir} does not exist, yet the database records ${installed} installed pack${installed === 1 ? "" : "s"} in it`,
    {
      path: dir,
      hint: "check --packs-dir, ATTUNE_PACKS_DIR or packs_dir in config.yaml; to go on without those packs' files, create the directory, then `attune pack verify --all` lists what is missing",
      details: { field: "packsDir", installed },
    },
  );
}

/**
 * The settings an installer runs with, read and checked without opening anything: options over the
 * environment over config.yaml over the defaults. Every bad setting of the environment and
 * config.yaml is reported at once (ECONFIG; several: `details.problems`, one per setting), not one
 * per start: config.yaml's problems, then the environment's (checked as if the file were empty).
 */
export async function readInstallerSettings(opts: InstallerOptions = {}): Promise<{
  settings: ResolvedSettings;
  config: AttuneConfigFile;
  policy: OutboundPolicy;
  registries: NonNullable<AttuneConfigFile["registries"]>;
  limits: Partial<ExtractLimits>;
}> {
  const settings = resolveSettings(opts);
  const checks = new SettingChecks();
  // kept when it is ECONFIG (the environment is then checked as if the file were empty), else thrown
  const config = (await readConfigFile(settings.home).catch((err: unknown) => checks.add(err))) ?? {};
  const pack = checks.read(() => readPackSettings(config, settings.env));
  checks.done(); // past it, every reading succeeded
  const { policy, envRegistries, limits } = pack as PackSettings;
  return { settings, config, policy, registries: envRegistries ?? config.registries ?? [], limits };
}

/**
 * Resolve settings (options > environment > defaults; readInstallerSettings), open the database (the
 * embedded SQLite store is created and migrated), prepare storage, policy and registries, then
 * reconcile.
 */
export async function openInstaller(opts: InstallerOptions = {}): Promise<Installer> {
  const { settings, config, policy, registries: registryList, limits } = await readInstallerSettings(opts);
  const registries = new RegistryClient({
    registries: registryList,
    policy,
    cacheDir: path.join(settings.home, "cache", "registries"),
    ttlSeconds: config.index_cache_ttl_seconds,
  });
  const storage = new PackStorage({ packsDir: settings.packsDir });
  const packsDirExisted = await fs.promises.lstat(settings.packsDir).then(
    () => true,
    () => false,
  );
  const store = await openRecordStore({ home: settings.home, databaseUrl: settings.databaseUrl });
  try {
    if (!packsDirExisted) await refuseMissingPacksDir(store, settings.packsDir);
    await storage.init();
    const locker: PackLocker =
      store.provider === "postgresql"
        ? new PostgresLocker(store.url)
        : new FileLocker(path.join(settings.packsDir, ".locks"), settings.lockStaleMs);
    const ctx: InstallerContext = {
      settings,
      storage,
      store,
      locker,
      journal: new Journal(path.join(settings.packsDir, ".journal")),
      attempts: new Attempts(path.join(settings.packsDir, ".attempts")),
      policy,
      registries,
      limits: withPathBudget({ ...limits, ...opts.limits }, settings.packsDir),
      onCleanup: opts.onCleanup,
    };
    const installer = new Installer(ctx, config);
    if (opts.reconcile !== false) await installer.reconcile();
    return installer;
  } catch (e) {
    await store.close().catch(() => undefined);
    throw e;
  }
}

/** The fewest bytes a pack's paths must be allowed (actions/…, sensors/…) for a packs dir to be usable. */
const MIN_PATH_BUDGET = 256;

/**
 * The path cap the sources check every entry against, lowered so that each file of a pack still
 * fits in PATH_MAX where the store puts it (the packs directory's own path and the store's names
 * come first): a pack that would only fit in staging is refused before anything is installed.
 */
function withPathBudget(limits: Partial<ExtractLimits>, packsDir: string): Partial<ExtractLimits> {
  const budget = packPathBudget(packsDir);
  if (budget < MIN_PATH_BUDGET)
    throw new AttuneError(
      ErrorCodes.ECONFIG,
      `the packs directory's path is ${Buffer.byteLength(path.resolve(packsDir))} bytes long: with the store's own names, a pack's files would have ${Math.max(budget, 0)} bytes left of the system's 4096 for their paths`,
      {
        path: packsDir,
        details: { field: "packsDir" },
        hint: "use a packs directory with a shorter path (--packs-dir, ATTUNE_PACKS_DIR or packs_dir in config.yaml)",
      },
    );
  return {
    ...limits,
    maxPathBytes: Math.min(limits.maxPathBytes ?? DEFAULT_EXTRACT_LIMITS.maxPathBytes, budget),
  };
}
