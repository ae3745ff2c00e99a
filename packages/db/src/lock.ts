import { createHash } from "node:crypto";
import type { QueryConfig } from "pg";
import { AttuneError, ErrorCodes } from "@attune/pack-storage";
import { connectionLost, toDbError } from "./errors";
import { connectPostgres } from "./migrate/postgres";
import { POSTGRES_QUERY_TIMEOUT_MS } from "./url";

/** The longest delay a Node timer takes (longer ones fire at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface HeldLock {
  /** Releases the lock and closes its connection. Safe to call twice. */
  release(): Promise<void>;
  /**
   * True once the lock's connection errored or ended before `release()`: PostgreSQL then released
   * the lock with the session, so the holder must not commit as if it still held it.
   */
  lost(): boolean;
}

/** A signed 64-bit advisory-lock key from a string (namespaced so other users of the DB don't collide). */
export function advisoryKey(key: string): bigint {
  return createHash("sha256").update(`attune:${key}`, "utf8").digest().readBigInt64BE(0);
}

/**
 * Takes a session-level `pg_advisory_lock` on a dedicated connection, so installs of one ref are
 * serialised across processes and hosts. The lock lives as long as that connection: if the
 * process dies, PostgreSQL releases it. `timeoutMs` bounds the wait (ELOCKED when it elapses).
 */
export async function acquirePostgresLock(
  url: string,
  key: string,
  opts: { timeoutMs?: number } = {},
): Promise<HeldLock> {
  const client = await connectPostgres(url);
  const k = advisoryKey(key).toString();
  try {
    if (opts.timeoutMs !== undefined)
      await client.query(`SET lock_timeout = ${Math.max(1, Math.floor(opts.timeoutMs))}`);
    // the wait for the lock is bounded by lock_timeout; the client waits that long and a statement's
    // timeout more for the answer (without a bound: as long as a timer can wait, ~24 days)
    // (the driver reads query_timeout per query; its typings list only the connection option)
    await client.query({
      text: "SELECT pg_advisory_lock($1::bigint)",
      values: [k],
      query_timeout:
        opts.timeoutMs === undefined
          ? MAX_TIMER_MS
          : Math.min(MAX_TIMER_MS, opts.timeoutMs + POSTGRES_QUERY_TIMEOUT_MS),
    } as QueryConfig);
  } catch (e) {
    await client.end().catch(() => undefined);
    if ((e as { code?: string }).code === "55P03")
      throw new AttuneError(ErrorCodes.ELOCKED, `"${key}" is locked by another process`, {
        cause: e,
        hint: "another install of this pack is running; retry when it has finished",
        details: { key },
      });
    throw lockError(e, `cannot take the lock "${key}"`, key);
  }
  let released = false;
  let lostCause: unknown = null;
  const onLost = (e?: unknown) => {
    if (!released && lostCause === null) lostCause = e ?? new Error("connection ended");
  };
  client.on("error", onLost);
  client.on("end", () => onLost());
  return {
    lost: () => lostCause !== null,
    async release() {
      if (released) return;
      released = true;
      try {
        // a lost session took its lock with it: nothing to unlock
        if (lostCause === null) await client.query("SELECT pg_advisory_unlock($1::bigint)", [k]);
      } catch (e) {
        // the session ended before its 'error' event came: PostgreSQL released the lock with it,
        // so the release did what it had to (an install that committed must not read as failed)
        if (!connectionLost(e)) throw lockError(e, `cannot release the lock "${key}"`, key);
      } finally {
        await client.end().catch(() => undefined);
      }
    },
  };
}

/**
 * The lock connection's failure as EDATABASE naming the lock and the cause; a connection that broke
 * or a server that did not answer in time is `unavailable` (the API answers 503), as on every path.
 */
function lockError(e: unknown, action: string, key: string): AttuneError {
  const mapped = toDbError(e, action);
  return new AttuneError(ErrorCodes.EDATABASE, mapped.message, {
    cause: e,
    hint: mapped.hint,
    details: { ...mapped.details, key },
  });
}
