import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import pg from "pg";
import { acquirePostgresLock, advisoryKey } from "../src";
import { POSTGRES, rejectsWith, scratchDatabase, type Scratch } from "./helpers";

/** Resolves once some session waits for the advisory lock of `key` (seen in pg_locks, not by timing). */
async function waitUntilSomeoneWaits(url: string, key: string): Promise<void> {
  const k = advisoryKey(key);
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    // advisory locks with a bigint key expose its high and low 32 bits as classid/objid
    const hi = Number(BigInt.asUintN(64, k) >> 32n);
    const lo = Number(BigInt.asUintN(64, k) & 0xffffffffn);
    for (;;) {
      const { rows } = await c.query(
        `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = $1::bigint::oid AND objid = $2::bigint::oid`,
        [hi, lo],
      );
      if (rows[0].n > 0) return;
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await c.end();
  }
}

(POSTGRES ? describe : describe.skip)("acquirePostgresLock [postgresql]", () => {
  let s: Scratch;
  beforeAll(async () => {
    s = await scratchDatabase("postgresql");
  });
  afterAll(async () => {
    await s?.cleanup();
  });

  it("serialises two contenders for one key", async () => {
    const order: string[] = [];
    const first = await acquirePostgresLock(s.url, "install:core");
    order.push("first acquired");
    const second = acquirePostgresLock(s.url, "install:core").then((lock) => {
      order.push("second acquired");
      return lock;
    });
    await waitUntilSomeoneWaits(s.url, "install:core");
    expect(order).toEqual(["first acquired"]); // the second is blocked in PostgreSQL
    order.push("first releasing");
    await first.release();
    const lock2 = await second;
    expect(order).toEqual(["first acquired", "first releasing", "second acquired"]);
    await lock2.release();
    await lock2.release(); // idempotent
  });

  it("does not block a different key", async () => {
    const a = await acquirePostgresLock(s.url, "install:a");
    const b = await acquirePostgresLock(s.url, "install:b");
    await Promise.all([a.release(), b.release()]);
  });

  it("gives up with ELOCKED after timeoutMs, and the lock is still usable afterwards", async () => {
    const held = await acquirePostgresLock(s.url, "install:busy");
    const err = await rejectsWith(acquirePostgresLock(s.url, "install:busy", { timeoutMs: 50 }), "ELOCKED");
    expect(err.message).toContain("install:busy");
    await held.release();
    const again = await acquirePostgresLock(s.url, "install:busy", { timeoutMs: 5000 });
    await again.release();
  });

  it("says the lock is lost once its session is terminated, and frees it for others", async () => {
    const held = await acquirePostgresLock(s.url, "install:lost");
    expect(held.lost()).toBe(false);
    const k = advisoryKey("install:lost");
    const hi = Number(BigInt.asUintN(64, k) >> 32n);
    const lo = Number(BigInt.asUintN(64, k) & 0xffffffffn);
    const admin = new pg.Client({ connectionString: s.url });
    await admin.connect();
    try {
      const { rows } = await admin.query(
        `SELECT pg_terminate_backend(pid) AS ok FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = $1::bigint::oid AND objid = $2::bigint::oid`,
        [hi, lo],
      );
      expect(rows).toHaveLength(1);
    } finally {
      await admin.end();
    }
    for (let i = 0; i < 500 && !held.lost(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(held.lost()).toBe(true);
    const next = await acquirePostgresLock(s.url, "install:lost", { timeoutMs: 5000 });
    expect(next.lost()).toBe(false);
    await next.release();
    expect(next.lost()).toBe(false); // a release is not a loss
    await held.release(); // releasing a lost lock does not throw
  });

  it("reports an unreachable server as EDATABASE without the password", async () => {
    const err = await rejectsWith(
      acquirePostgresLock("postgresql://u:secret@127.0.0.1:1/x", "k"),
      "EDATABASE",
    );
    expect(err.message).not.toContain("secret");
  });
});

describe("advisoryKey", () => {
  it("is a stable signed 64-bit key per string", () => {
    expect(advisoryKey("install:core")).toBe(advisoryKey("install:core"));
    expect(advisoryKey("install:core")).not.toBe(advisoryKey("install:core2"));
    const k = advisoryKey("x");
    expect(k >= -(2n ** 63n) && k < 2n ** 63n).toBe(true);
  });
});
