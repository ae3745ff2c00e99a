import type { PackStorage } from "@attune/pack-storage";
import type { ExtractLimits, OutboundPolicy, RegistryClient } from "@attune/pack-registry";
import type { Attempts } from "./attempts";
import type { Journal } from "./journal";
import type { PackLock, PackLocker } from "./locks";
import type { ResolvedSettings } from "./settings";
import type { RecordStore } from "./store";
import type { CleanupReport, ProgressEvent } from "./types";

/** What every flow (install, uninstall, verify, reconcile) works with; built once by openInstaller. */
export interface InstallerContext {
  settings: ResolvedSettings;
  storage: PackStorage;
  store: RecordStore;
  locker: PackLocker;
  journal: Journal;
  /** installs in progress until journaled, so a crash before the journal is recorded too */
  attempts: Attempts;
  policy: OutboundPolicy;
  registries: RegistryClient;
  /** extraction/copy size caps over the defaults (ATTUNE_MAX_FILE_BYTES, … or config.yaml) */
  limits: Partial<ExtractLimits>;
  /** told what a write settled of earlier operations' leftovers, or failed to (InstallerOptions.onCleanup) */
  onCleanup?: (report: CleanupReport) => void;
}

export async function withRefLock<T>(
  ctx: InstallerContext,
  ref: string,
  signal: AbortSignal | undefined,
  fn: (lock: PackLock) => Promise<T>,
): Promise<T> {
  const lock = await ctx.locker.acquire(ref, { timeoutMs: ctx.settings.lockTimeoutMs, signal });
  try {
    return await fn(lock);
  } finally {
    await lock.release();
  }
}

/**
 * Run `fn` holding the store's dependency lock when `needed` (see PackLocker.acquireDependencies);
 * taken after the ref's own lock, so the order is always ref, then dependencies.
 */
export async function withDependencyLock<T>(
  ctx: InstallerContext,
  needed: boolean,
  signal: AbortSignal | undefined,
  fn: () => Promise<T>,
): Promise<T> {
  if (!needed) return fn();
  const lock = await ctx.locker.acquireDependencies({ timeoutMs: ctx.settings.lockTimeoutMs, signal });
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

/** A progress callback that can never break the flow (a throwing progress bar is the caller's bug). */
export function safeProgress(cb?: (e: ProgressEvent) => void): (e: ProgressEvent) => void {
  if (!cb) return () => undefined;
  return (e) => {
    try {
      cb(e);
    } catch {
      // ignored on purpose: progress reporting is best effort
    }
  };
}
