import { acquirePostgresLock } from "@attune/db";
import { AttuneError, ErrorCodes } from "@attune/pack-storage";
import type { AcquireOptions, PackLock, PackLocker } from "./locks";
import { abortError, lockName } from "./locks";

/** How long an acquisition may take before it counts as waiting for another holder (onWait). */
const WAIT_SAID_AFTER_MS = 250;

/**
 * PostgreSQL: a session advisory lock on `attune:pack:<ref>`, held on a dedicated connection.
 * PostgreSQL releases it when the session ends, so a killed process never blocks others; the wait
 * is bounded by `lock_timeout` (ELOCKED).
 */
export class PostgresLocker implements PackLocker {
  readonly kind = "postgresql" as const;
  constructor(private readonly url: string) {}

  acquire(ref: string, opts: AcquireOptions): Promise<PackLock> {
    return this.lockKey(`pack:${ref}`, ref, opts);
  }

  /** `store:dependencies`: the pack locks' keys all start with `pack:` */
  acquireDependencies(opts: AcquireOptions): Promise<PackLock> {
    return this.lockKey("store:dependencies", null, opts);
  }

  private async lockKey(key: string, ref: string | null, opts: AcquireOptions): Promise<PackLock> {
    if (opts.signal?.aborted) throw abortError(opts.signal);
    // the server queues the request (no polling here): a wait is one that has not ended soon
    const waiting = opts.onWait && setTimeout(opts.onWait, WAIT_SAID_AFTER_MS);
    let held;
    try {
      held = await acquirePostgresLock(this.url, key, { timeoutMs: opts.timeoutMs });
    } finally {
      clearTimeout(waiting);
    }
    return {
      release: () => held.release(),
      // the lock lives exactly as long as its connection: once that is gone, so is the lock
      assertHeld: () => {
        if (held.lost())
          throw new AttuneError(ErrorCodes.ELOCKED, `the lock of ${lockName(ref)} was lost`, {
            hint: "the connection holding the PostgreSQL advisory lock went away; retry",
            details: { ref },
          });
      },
    };
  }
}
