import fs from "node:fs";
import path from "node:path";
import { AttuneError, ErrorCodes, ioError, validateRef } from "@attune/pack-storage";
import { loadLockfile } from "./lazy";
import { holderIsDead, ownerRecordingFs, readOwner } from "./lock-owner";

/** A held per-ref lock. `assertHeld()` throws when the lock was lost (so we never commit without it). */
export interface PackLock {
  release(): Promise<void>;
  assertHeld(): void;
}

export interface AcquireOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** Called once, when the lock is found held and the wait begins (a progress line). */
  onWait?: () => void;
}

/** Serialises operations on one pack ref across processes; different refs never block each other. */
export interface PackLocker {
  readonly kind: "file" | "postgresql";
  acquire(ref: string, opts: AcquireOptions): Promise<PackLock>;
  /**
   * The store-wide lock of dependency checks, taken (after the ref's own lock, never before) by an
   * install that has dependencies or changes a version, and by an uninstall, from their last check
   * of the dependency graph through their commit: operations on different refs cannot both pass
   * their checks and together break a dependency. Held for a commit's length; a name no ref can take.
   */
  acquireDependencies(opts: AcquireOptions): Promise<PackLock>;
  /** Remove the locks whose holders are certainly gone (file locks; best effort, never throws). */
  sweepDead?(): Promise<void>;
}

/** What a lock guards, for messages: a pack ref, or the dependency checks (ref null). */
function lockSubject(ref: string | null): string {
  return ref === null
    ? "the dependency check of another install or uninstall"
    : `another operation on pack '${ref}'`;
}

/** The lock's own name in messages: `pack 'core'`, or the dependency checks (ref null). */
export function lockName(ref: string | null): string {
  return ref === null ? "the dependency checks" : `pack '${ref}'`;
}

/**
 * The wait for a lock ran out. `holder`: the process that holds it, when its lock names it (a file
 * lock on Linux): said, so an operator can look at that process.
 */
export function lockTimeoutError(
  ref: string | null,
  timeoutMs: number,
  holder?: { pid: number; host: string },
): AttuneError {
  const retry =
    ref === null
      ? "retry when the other install/uninstall has finished"
      : "retry when the other install/uninstall of this pack has finished";
  return new AttuneError(
    ErrorCodes.ELOCKED,
    `${lockSubject(ref)} is still running after ${Math.round(timeoutMs / 1000)} s` +
      (holder ? ` (process ${holder.pid} on ${holder.host} holds its lock)` : ""),
    {
      hint: holder
        ? `${retry}; should process ${holder.pid} hang, stop it: its lock is then taken over at once`
        : retry,
      details: { ref, ...(holder ? { holder: { pid: holder.pid, host: holder.host } } : {}) },
    },
  );
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const t = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }
    function onAbort() {
      clearTimeout(t);
      reject(abortError(signal!));
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export const EABORTED = ErrorCodes.EABORTED;

/**
 * The caller stopped the operation: said with the reason it gave when that is an Error with a
 * message (the CLI's "terminated (SIGTERM)", "interrupted (Ctrl-C)"), so the history records why.
 */
export function abortError(signal: AbortSignal): AttuneError {
  const reason = signal.reason instanceof Error && signal.reason.message ? signal.reason.message : null;
  return new AttuneError(
    EABORTED,
    reason ? `the operation was stopped: ${reason}` : "the operation was aborted",
    {
      cause: signal.reason,
      details: { aborted: true },
    },
  );
}

/**
 * Poll `tryOnce` until it yields a lock or `timeoutMs` elapses. Polling (not a blocking wait) keeps
 * the wait bounded and abortable for both lock kinds.
 */
export async function pollLock(
  ref: string | null,
  opts: AcquireOptions & {
    /** who holds the lock, for the timeout's message, when the lock says */
    holder?: () => Promise<{ pid: number; host: string } | null>;
  },
  tryOnce: () => Promise<PackLock | null>,
): Promise<PackLock> {
  const deadline = Date.now() + opts.timeoutMs;
  let delay = 50;
  for (let attempt = 0; ; attempt++) {
    const lock = await tryOnce();
    if (lock) return lock;
    if (Date.now() >= deadline)
      throw lockTimeoutError(ref, opts.timeoutMs, (await opts.holder?.()) ?? undefined);
    if (attempt === 0) opts.onWait?.();
    await sleep(Math.min(delay, Math.max(1, deadline - Date.now())), opts.signal);
    delay = Math.min(delay * 2, 1_000);
  }
}

/** The dependency checks' lock file: "~" starts no ref, so no pack's lock can take this name. */
const DEPENDENCIES_LOCK_FILE = "~dependencies";

/**
 * Embedded store: a proper-lockfile lock at `<packsDir>/.locks/<ref>.lock`. The holder refreshes the
 * lock's mtime; a lock not refreshed for `staleMs` belongs to a dead process and is taken over. On
 * Linux the lock directory also names its holder (lock-owner.ts): a lock whose holder is certainly
 * gone (killed on this machine) is taken over at once, without waiting for it to turn stale.
 */
export class FileLocker implements PackLocker {
  readonly kind = "file" as const;
  constructor(
    private readonly dir: string,
    private readonly staleMs: number,
  ) {}

  async acquire(ref: string, opts: AcquireOptions): Promise<PackLock> {
    // validated again here because the ref becomes a file name (^[a-z][a-z0-9_-]+$: no traversal)
    return this.lockAt(validateRef(ref), ref, opts);
  }

  acquireDependencies(opts: AcquireOptions): Promise<PackLock> {
    return this.lockAt(DEPENDENCIES_LOCK_FILE, null, opts);
  }

  async sweepDead(): Promise<void> {
    const names = await fs.promises.readdir(this.dir).catch(() => [] as string[]);
    for (const name of names)
      if (name.endsWith(".lock"))
        await this.dropIfHolderDead(path.join(this.dir, name)).catch(() => undefined);
  }

  private async lockAt(name: string, ref: string | null, opts: AcquireOptions): Promise<PackLock> {
    await this.makeLockDir();
    const target = path.join(this.dir, name);
    const holder = () => readOwner(`${target}.lock`);
    return pollLock(ref, { ...opts, holder }, async () => {
      let compromised: Error | null = null;
      try {
        const release = await loadLockfile().lock(target, {
          realpath: false,
          lockfilePath: `${target}.lock`,
          stale: this.staleMs,
          retries: 0,
          fs: ownerRecordingFs,
          onCompromised: (err) => {
            compromised = err; // never throw from the timer: the flow checks assertHeld() before commit
          },
        });
        return {
          release: async () => {
            if (!compromised) await release().catch(() => undefined);
          },
          assertHeld: () => {
            if (compromised)
              throw new AttuneError(ErrorCodes.ELOCKED, `the lock of ${lockName(ref)} was lost`, {
                cause: compromised,
                hint: "the packs directory is too slow or another process took the lock over; retry",
              });
          },
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ELOCKED") {
          await this.dropIfFromTheFuture(`${target}.lock`);
          await this.dropIfHolderDead(`${target}.lock`);
          return null; // tried again after a short pause (pollLock)
        }
        throw ioError(e, `${target}.lock`, "cannot create the lock");
      }
    });
  }

  /**
   * `<packsDir>/.locks`, created inside the packs directory but never the packs directory itself:
   * one that has gone while this process runs is a lost store, and a new, empty one in its place
   * would hide that (readiness, and a restore from a backup, would see a different directory).
   */
  private async makeLockDir(): Promise<void> {
    try {
      await fs.promises.mkdir(this.dir, { mode: 0o700 });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EEXIST") return;
      const packsDir = path.dirname(this.dir);
      if (code === "ENOENT")
        throw new AttuneError(ErrorCodes.ECONFIG, `the packs directory ${packsDir} does not exist`, {
          cause: err,
          path: packsDir,
          hint: `restore the packs directory ${packsDir} from a backup (or create it anew, empty, and reinstall the packs), then restart this process`,
          details: { storeLost: true, reason: "gone" },
        });
      throw ioError(err, this.dir, "cannot create the lock directory");
    }
  }

  /**
   * A lock whose recorded holder is certainly gone (lock-owner.ts) is removed, so the next attempt
   * takes it without waiting for it to turn stale.
   */
  private dropIfHolderDead(lockDir: string): Promise<void> {
    return dropAside(lockDir, "dead", async (dir) => {
      const owner = await readOwner(dir);
      return owner !== null && holderIsDead(owner);
    });
  }

  /**
   * A lock is stale when not refreshed for staleMs; one whose time lies further ahead than that was
   * left by a process that died before the clock stepped back (or was touched by hand): it would
   * look fresh for hours. No live holder can have set it (a holder refreshes it to its own "now"
   * every staleMs / 2), so it is removed and the next attempt takes the lock.
   */
  private dropIfFromTheFuture(lockDir: string): Promise<void> {
    return dropAside(lockDir, "future", async (dir) => {
      const st = await fs.promises.stat(dir).catch(() => null);
      return st !== null && st.mtimeMs > Date.now() + this.staleMs;
    });
  }
}

/**
 * Remove the lock directory `lockDir` when `isLeft` judges it left behind by a dead process. Moved
 * aside first (atomic), then judged again there: another process may have removed the old lock and
 * taken a fresh one since the first look. Only a lock still judged left behind is dropped; a fresh
 * one is put back (should a third process have made one meanwhile, the one put aside loses its lock
 * and notices: assertHeld before any commit).
 */
async function dropAside(
  lockDir: string,
  tag: string,
  isLeft: (dir: string) => Promise<boolean>,
): Promise<void> {
  if (!(await isLeft(lockDir))) return;
  const aside = `${lockDir}.${tag}-${process.pid}-${Date.now()}`;
  const moved = await fs.promises.rename(lockDir, aside).then(
    () => true,
    () => false,
  );
  if (!moved) return;
  if (!(await isLeft(aside))) await fs.promises.rename(aside, lockDir).catch(() => undefined);
  await fs.promises.rm(aside, { recursive: true, force: true }).catch(() => undefined);
}
