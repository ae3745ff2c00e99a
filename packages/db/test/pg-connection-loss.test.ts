// A PostgreSQL session that the server ends under a running process (pg_terminate_backend, a
// restart, a failover): every path fails the operation in hand with EDATABASE marked unavailable
// (the API answers 503 with Retry-After), names the cause, hints at no migration, and the process
// lives on to serve the next request.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import pg from "pg";
import { heldProxy } from "@attune/test-utils";
import {
  acquirePostgresLock,
  advisoryKey,
  createClient,
  openDatabase,
  repositories,
  withTransaction,
  type OpenedDatabase,
} from "../src";
import { guardPoolClients } from "../src/drivers";
import { toDbError } from "../src/errors";
import { connectPostgres } from "../src/migrate/postgres";
import { PACKAGE_DIR, POSTGRES, rejectsWith, scratchDatabase, uniqueRef, type Scratch } from "./helpers";

const TERMINATED = "terminating connection due to administrator command";
const ENDED_HINT =
  "the server ended the connection (a restart, a failover, or an administrator terminating sessions); retry, and check the server if it keeps happening";

type Failure = {
  code?: string;
  message?: string;
  hint?: string;
  details?: Record<string, unknown>;
  cause?: unknown;
};
const failure = (p: Promise<unknown>): Promise<Failure | null> =>
  p.then(
    () => null,
    (e: unknown) => e as Failure,
  );

/** Runs `sql` on a connection of its own to `url`. */
async function admin<T extends pg.QueryResultRow>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

/** Terminates the sessions of this test's database that wait for a lock, once there is one. */
async function terminateWaiting(url: string): Promise<void> {
  for (;;) {
    const rows = await admin(
      url,
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
    );
    if (rows.length > 0) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The pid of the session holding the advisory lock of `key`. */
async function holderOf(url: string, key: string): Promise<number> {
  const k = advisoryKey(key);
  const rows = await admin<{ pid: number }>(
    url,
    `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
     AND classid = $1::bigint::oid AND objid = $2::bigint::oid`,
    [Number(BigInt.asUintN(64, k) >> 32n), Number(BigInt.asUintN(64, k) & 0xffffffffn)],
  );
  expect(rows).toHaveLength(1);
  return rows[0].pid;
}

/** A session in a transaction holding `table` in ACCESS EXCLUSIVE mode, until `release()`. */
async function lockTable(url: string, table: string): Promise<{ release(): Promise<void> }> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query("BEGIN");
  await c.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
  return {
    release: async () => {
      await c.query("ROLLBACK");
      await c.end();
    },
  };
}

const describePg = POSTGRES ? describe : describe.skip;

describePg("a PostgreSQL session terminated under a running process", () => {
  let s: Scratch;
  let opened: OpenedDatabase;
  beforeAll(async () => {
    s = await scratchDatabase("postgresql");
    opened = await openDatabase({ home: s.home, databaseUrl: s.url, migrate: true });
  });
  afterAll(async () => {
    await opened?.close();
    await s?.cleanup();
  });

  it("a pool's connection listens for errors while handed out, before its taker can add a listener", async () => {
    // pg-pool takes its own listener off a connection it hands out; a session the server ended in
    // the microtasks before the taker's `on("error")` made pg emit an 'error' nobody heard
    const bare = new pg.Pool({ connectionString: s.url, max: 1 });
    const guarded = guardPoolClients(new pg.Pool({ connectionString: s.url, max: 1 }));
    try {
      const b = await bare.connect();
      const g = await guarded.connect();
      expect([b.listenerCount("error"), g.listenerCount("error")]).toEqual([0, 1]);
      b.release();
      // the guarded one, handed out and idle, its session ended: no crash, its next query fails
      const [{ pid }] = (await g.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows;
      const ended = new Promise((resolve) => g.once("end", resolve));
      await admin(s.url, "SELECT pg_terminate_backend($1)", [pid]);
      await ended;
      await expect(g.query("SELECT 1")).rejects.toThrow();
      g.release(true);
    } finally {
      await Promise.all([bare.end(), guarded.end()]);
    }
  });

  it("an install commit on the direct writer fails with EDATABASE unavailable; the process survives and goes on", async () => {
    // in a process of its own: an unhandled 'error' event of a pg client kills the whole process
    expect(fs.existsSync(path.join(PACKAGE_DIR, "dist/index.js"))).toBe(true); // it runs the built package
    const child = spawn(
      process.execPath,
      [path.join(PACKAGE_DIR, "test/fixtures/terminated-writer.mjs"), s.url],
      {
        env: { ...process.env, NODE_OPTIONS: "" },
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on("error", reject);
      child.on("close", resolve);
    });
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    expect(JSON.parse(stdout)).toEqual({
      error: {
        code: "EDATABASE",
        message: `record the installation of cut: cannot use the database (${TERMINATED})`,
        hint: ENDED_HINT,
        details: { unavailable: true },
        cause: "57P01",
      },
      next: "after", // the writer's pool opened a new connection for the next commit
    });
  });

  it("a Prisma query (the API's token check) fails with EDATABASE unavailable naming the cause, without the migrate hint", async () => {
    const tokens = repositories(opened.db).tokens;
    const { secret } = await tokens.create({ name: uniqueRef("tok") });
    const table = await lockTable(s.url, "api_token");
    const verified = failure(tokens.verify(secret)); // waits for the table lock
    try {
      await terminateWaiting(s.url);
    } finally {
      await table.release();
    }
    const e = await verified;
    expect(e).toMatchObject({
      code: "EDATABASE",
      message: `verify token: cannot use the database (${TERMINATED})`,
      hint: ENDED_HINT,
      details: { unavailable: true },
    });
    // Prisma has no code for 57P01: its model queries reject with the adapter's bare error
    expect((e!.cause as Error).name).toBe("DriverAdapterError");
    expect(await tokens.verify(secret)).toMatchObject({ token: { name: expect.any(String) } });
  });

  it("a Prisma interactive transaction fails the same way, gives its connection back, and the process survives", async () => {
    const db = await createClient(s.url);
    let closed = false;
    try {
      const table = await lockTable(s.url, "identity");
      const name = uniqueRef("who");
      const done = failure(
        withTransaction(db, async (tx) => {
          await tx.identities.create({ name });
        }),
      );
      try {
        await terminateWaiting(s.url);
      } finally {
        await table.release();
      }
      expect(await done).toMatchObject({
        code: "EDATABASE",
        message: `create the identity "${name}": cannot use the database (${TERMINATED})`,
        hint: ENDED_HINT,
        details: { unavailable: true },
      });
      await new Promise((r) => setTimeout(r, 200)); // the socket's end comes after the failure
      await repositories(db).identities.create({ name: uniqueRef("who") });
    } finally {
      // a connection still checked out (its ROLLBACK failed) would keep the pool from ever closing
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        db.$disconnect().then(() => (closed = true)),
        new Promise((r) => (timer = setTimeout(r, 5000))),
      ]);
      clearTimeout(timer);
    }
    expect(closed).toBe(true);
  });

  it("a Prisma transaction whose session ends between its statements fails at COMMIT with EDATABASE unavailable, not the driver's raw error", async () => {
    const db = await createClient(s.url);
    try {
      const e = await failure(
        withTransaction(db, async (tx) => {
          await tx.identities.create({ name: uniqueRef("who") });
          await admin(
            s.url,
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND state = 'idle in transaction'`,
          );
          await new Promise((r) => setTimeout(r, 200)); // the client hears of it before its COMMIT
        }),
      );
      expect(e).toMatchObject({
        code: "EDATABASE",
        message:
          "transaction: cannot use the database (Client has encountered a connection error and is not queryable)",
        hint: ENDED_HINT,
        details: { unavailable: true },
      });
    } finally {
      await db.$disconnect();
    }
  });

  it("the pg driver's own words for a broken connection (no code) read as the connection lost", async () => {
    const client = await connectPostgres(s.url);
    const events: Error[] = [];
    client.on("error", (e: Error) => events.push(e));
    const ended = new Promise((r) => client.once("end", r));
    await admin(s.url, "SELECT pg_terminate_backend($1)", [
      (client as unknown as { processID: number }).processID,
    ]);
    await ended;
    const query = await failure(client.query("SELECT 1"));
    const seen = [...events, query as Error].map((e) => e.message);
    expect(seen).toEqual([
      TERMINATED,
      "Connection terminated unexpectedly",
      "Client has encountered a connection error and is not queryable",
    ]);
    for (const e of [...events, query]) {
      const mapped = toDbError(e, "read");
      expect({ code: mapped.code, hint: mapped.hint, details: mapped.details }).toEqual({
        code: "EDATABASE",
        hint: ENDED_HINT,
        details: { unavailable: true },
      });
      expect(mapped.message).toBe(`read: cannot use the database (${(e as Error).message})`);
    }
  });
});

describePg("the advisory lock's connection terminated", () => {
  let s: Scratch;
  let proxy: Awaited<ReturnType<typeof heldProxy>>;
  beforeAll(async () => {
    s = await scratchDatabase("postgresql");
    proxy = await heldProxy(new URL(s.url));
  });
  afterAll(async () => {
    await proxy?.close();
    await s?.cleanup();
  });

  it("release() resolves when the session ended before the unlock was answered (PostgreSQL released the lock)", async () => {
    const key = uniqueRef("pack");
    const held = await acquirePostgresLock(proxy.via(s.url), key);
    const pid = await holderOf(s.url, key);
    proxy.hold(); // the client hears of the termination only after it has sent its unlock
    await admin(s.url, "SELECT pg_terminate_backend($1)", [pid]);
    await proxy.serverClosed();
    expect(held.lost()).toBe(false); // not told yet: the unlock is sent
    const released = held.release();
    proxy.resume();
    await expect(released).resolves.toBeUndefined();
    // free for the next holder at once
    const next = await acquirePostgresLock(s.url, key, { timeoutMs: 2000 });
    await next.release();
  });

  it("an unlock that fails otherwise is EDATABASE naming the lock, never the driver's raw error", async () => {
    const key = uniqueRef("pack");
    const u = new URL(proxy.via(s.url));
    u.searchParams.set("query_timeout", "300");
    const held = await acquirePostgresLock(u.toString(), key);
    proxy.hold(); // the server's answer to the unlock does not come in time
    const released = failure(held.release());
    // after the timeout the client closes its connection, and waits for the close to come through
    await proxy.serverClosed();
    proxy.resume();
    expect(await released).toMatchObject({
      code: "EDATABASE",
      message: `cannot release the lock "${key}": the server did not answer a statement in time (query timeout: 30 s, or DATABASE_URL's query_timeout)`,
      hint: expect.stringMatching(/query_timeout=<ms>/),
      details: { key, unavailable: true },
    });
    // the connection is closed all the same, and the lock with it
    const next = await acquirePostgresLock(s.url, key, { timeoutMs: 5000 });
    await next.release();
  });

  it("a wait for a held lock whose session the server ends is EDATABASE unavailable with the cause, without the migrate hint", async () => {
    const key = uniqueRef("pack");
    const held = await acquirePostgresLock(s.url, key);
    try {
      const waiting = failure(acquirePostgresLock(s.url, key, { timeoutMs: 30_000 }));
      await terminateWaiting(s.url);
      expect(await waiting).toMatchObject({
        code: "EDATABASE",
        message: `cannot take the lock "${key}": cannot use the database (${TERMINATED})`,
        hint: ENDED_HINT,
        details: { key, unavailable: true },
      });
    } finally {
      await held.release();
    }
  });
});
