import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import { tmpDir } from "@attune/test-utils";
import { execFileSync, spawn } from "node:child_process";
import { FileLocker } from "../src/locks";
import { processStart } from "@attune/pack-storage";
import { OWNER_FILE, holderIsDead, parseOwner, selfOwner, type LockOwner } from "../src/lock-owner";
import { Journal } from "../src/journal";

let tmp: ReturnType<typeof tmpDir>;
beforeEach(() => {
  tmp = tmpDir("attune-locks-");
});
afterEach(() => tmp.cleanup());

describe("FileLocker", () => {
  it("serialises one ref: the second waiter gets the lock only after release", async () => {
    const locker = new FileLocker(path.join(tmp.dir, ".locks"), 2_000);
    const order: string[] = [];
    const first = await locker.acquire("core", { timeoutMs: 5_000 });
    const second = locker.acquire("core", { timeoutMs: 10_000 }).then((l) => {
      order.push("second acquired");
      return l;
    });
    await new Promise((r) => setTimeout(r, 300));
    order.push("first releasing");
    await first.release();
    await (await second).release();
    expect(order).toEqual(["first releasing", "second acquired"]);
  });

  it("says once that it waits (onWait), and only when the lock is held", async () => {
    const locker = new FileLocker(path.join(tmp.dir, ".locks"), 2_000);
    let waits = 0;
    const onWait = () => (waits += 1);
    const first = await locker.acquire("core", { timeoutMs: 1_000, onWait });
    expect(waits).toBe(0);
    const second = locker.acquire("core", { timeoutMs: 10_000, onWait });
    await new Promise((r) => setTimeout(r, 600)); // several polls
    expect(waits).toBe(1);
    await first.release();
    await (await second).release();
    expect(waits).toBe(1);
  });

  it("does not block different refs", async () => {
    const locker = new FileLocker(path.join(tmp.dir, ".locks"), 2_000);
    const a = await locker.acquire("alpha", { timeoutMs: 1_000 });
    const b = await locker.acquire("beta", { timeoutMs: 1 });
    await Promise.all([a.release(), b.release()]);
  });

  it("gives up with ELOCKED after the bounded wait", async () => {
    const locker = new FileLocker(path.join(tmp.dir, ".locks"), 5_000);
    const held = await locker.acquire("core", { timeoutMs: 1_000 });
    const named = selfOwner() !== null; // Linux: the lock names its holder, and so does the error
    await expect(locker.acquire("core", { timeoutMs: 200 })).rejects.toMatchObject({
      code: "ELOCKED",
      message: named
        ? `another operation on pack 'core' is still running after 0 s (process ${process.pid} on ${os.hostname()} holds its lock)`
        : "another operation on pack 'core' is still running after 0 s",
      hint: named
        ? `retry when the other install/uninstall of this pack has finished; should process ${process.pid} hang, stop it: its lock is then taken over at once`
        : "retry when the other install/uninstall of this pack has finished",
      details: named ? { ref: "core", holder: { pid: process.pid, host: os.hostname() } } : { ref: "core" },
    });
    await held.release();
  });

  it("never creates the packs directory: a missing one is a lost store (ECONFIG, storeLost), not a new, empty one", async () => {
    const packsDir = path.join(tmp.dir, "packs");
    const locker = new FileLocker(path.join(packsDir, ".locks"), 2_000);
    for (const take of [
      () => locker.acquire("core", { timeoutMs: 500 }),
      () => locker.acquireDependencies({ timeoutMs: 500 }),
    ])
      await expect(take()).rejects.toMatchObject({
        code: "ECONFIG",
        message: `the packs directory ${packsDir} does not exist`,
        details: { storeLost: true, reason: "gone" },
      });
    expect(fs.existsSync(packsDir)).toBe(false);
    fs.mkdirSync(packsDir);
    const lock = await locker.acquire("core", { timeoutMs: 500 });
    expect((fs.statSync(path.join(packsDir, ".locks")).mode & 0o777).toString(8)).toBe("700");
    await lock.release();
  });

  it("takes over a lock left by a dead process once it is stale", async () => {
    const dir = path.join(tmp.dir, ".locks");
    fs.mkdirSync(path.join(dir, "core.lock"), { recursive: true });
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(path.join(dir, "core.lock"), old, old);
    const lock = await new FileLocker(dir, 2_000).acquire("core", { timeoutMs: 1_000 });
    lock.assertHeld();
    await lock.release();
    expect(fs.existsSync(path.join(dir, "core.lock"))).toBe(false);
  });

  it("takes over a lock dated in the future (left before the clock stepped back), but not a live one", async () => {
    const dir = path.join(tmp.dir, ".locks");
    fs.mkdirSync(path.join(dir, "core.lock"), { recursive: true });
    const ahead = new Date(Date.now() + 3_600_000);
    fs.utimesSync(path.join(dir, "core.lock"), ahead, ahead);
    const locker = new FileLocker(dir, 2_000);
    const lock = await locker.acquire("core", { timeoutMs: 1_000 });
    lock.assertHeld();
    // the lock it now holds is dated now: another process waits for it as usual
    await expect(locker.acquire("core", { timeoutMs: 300 })).rejects.toMatchObject({ code: "ELOCKED" });
    await lock.release();
  });

  describe("the holder's record (Linux: a killed holder's lock is taken over at once)", () => {
    const me = selfOwner();
    const onLinux = me ? it : it.skip;
    /** A lock directory as a holder with this record leaves it (fresh mtime: not stale). */
    const leaveLock = (dir: string, owner: Partial<LockOwner>) => {
      fs.mkdirSync(path.join(dir, "core.lock"), { recursive: true });
      fs.writeFileSync(path.join(dir, "core.lock", OWNER_FILE), JSON.stringify({ ...me, ...owner }));
    };

    onLinux("records this process in the lock directory and removes the record with the lock", async () => {
      const dir = path.join(tmp.dir, ".locks");
      const lock = await new FileLocker(dir, 60_000).acquire("core", { timeoutMs: 1_000 });
      const record = JSON.parse(fs.readFileSync(path.join(dir, "core.lock", OWNER_FILE), "utf8"));
      expect(record).toEqual(me);
      expect(record.pid).toBe(process.pid);
      lock.assertHeld();
      await lock.release();
      expect(fs.readdirSync(dir)).toEqual([]);
    });

    onLinux("waits for a live holder, and takes the lock at once when that process is killed", async () => {
      const dir = path.join(tmp.dir, ".locks");
      const holder = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
      try {
        const pid = holder.pid!;
        let start: string | null = null;
        for (let i = 0; i < 100 && start === null; i++) {
          start = processStart(pid);
          if (start === null) await new Promise((r) => setTimeout(r, 10));
        }
        leaveLock(dir, { pid, start: start! });
        // stale only after a minute: a live holder is waited for
        const locker = new FileLocker(dir, 60_000);
        await expect(locker.acquire("core", { timeoutMs: 300 })).rejects.toMatchObject({ code: "ELOCKED" });
        const exited = new Promise((r) => holder.once("exit", r));
        holder.kill("SIGKILL");
        await exited;
        // its lock is still there and fresh, but its holder is gone: taken well before it turns stale
        const lock = await locker.acquire("core", { timeoutMs: 5_000 });
        lock.assertHeld();
        expect(JSON.parse(fs.readFileSync(path.join(dir, "core.lock", OWNER_FILE), "utf8")).pid).toBe(
          process.pid,
        );
        await lock.release();
        expect(fs.readdirSync(dir)).toEqual([]);
      } finally {
        holder.kill("SIGKILL");
      }
    });

    onLinux("judges a zombie (dead, not yet reaped) dead, and a live process alive", async () => {
      // the inner sleep's parent execs another sleep that never reaps it: a zombie for 5 s
      const parent = spawn("sh", ["-c", "sleep 0.4 & echo $!; exec sleep 5"], {
        stdio: ["ignore", "pipe", "ignore"],
      });
      try {
        const pid = Number(
          await new Promise<string>((r) => parent.stdout.once("data", (d: Buffer) => r(String(d)))),
        );
        const start = processStart(pid);
        expect(start).not.toBeNull();
        const owner = { ...me!, pid, start: start! };
        expect(holderIsDead(owner)).toBe(false);
        await new Promise((r) => setTimeout(r, 800));
        expect(fs.readFileSync(`/proc/${pid}/stat`, "utf8")).toMatch(/\) Z /); // still there, a zombie
        expect(holderIsDead(owner)).toBe(true);
      } finally {
        parent.kill("SIGKILL");
      }
    });

    onLinux(
      "never hangs on a FIFO in place of the record, and a stray file does not wedge a stale lock",
      async () => {
        const dir = path.join(tmp.dir, ".locks");
        fs.mkdirSync(path.join(dir, "core.lock"), { recursive: true });
        execFileSync("mkfifo", [path.join(dir, "core.lock", OWNER_FILE)]);
        const locker = new FileLocker(dir, 2_000);
        // read without blocking: no holder named, a plain ELOCKED while the lock is fresh
        await expect(locker.acquire("core", { timeoutMs: 300 })).rejects.toMatchObject({
          code: "ELOCKED",
          details: { ref: "core" },
        });
        // once stale it is taken over, FIFO and all
        const first = await locker.acquire("core", { timeoutMs: 5_000 });
        first.assertHeld();
        await first.release();
        // an editor's swap file of the record next to it: removed with the stale lock, not ENOTEMPTY
        leaveLock(dir, { host: "elsewhere" });
        fs.writeFileSync(path.join(dir, "core.lock", ".owner.swp"), "x");
        const old = new Date(Date.now() - 60_000);
        fs.utimesSync(path.join(dir, "core.lock"), old, old);
        const second = await locker.acquire("core", { timeoutMs: 1_000 });
        second.assertHeld();
        // and a release removes whatever was put into a held lock meanwhile
        fs.writeFileSync(path.join(dir, "core.lock", "stray"), "x");
        await second.release();
        expect(fs.readdirSync(dir)).toEqual([]);
      },
    );

    onLinux("sweepDead (run by reconcile) removes only the locks of holders certainly gone", async () => {
      const dir = path.join(tmp.dir, ".locks");
      const dead = 2 ** 22 + 1; // above Linux's largest PID: no such process
      const lockOf = (name: string, owner: Partial<LockOwner>) => {
        fs.mkdirSync(path.join(dir, name), { recursive: true });
        fs.writeFileSync(path.join(dir, name, OWNER_FILE), JSON.stringify({ ...me, ...owner }));
      };
      lockOf("~dependencies.lock", { pid: dead });
      lockOf("gone.lock", { pid: dead });
      lockOf("mine.lock", {}); // this live process
      lockOf("far.lock", { pid: dead, host: "elsewhere" }); // not ours to judge
      fs.mkdirSync(path.join(dir, "bare.lock")); // no record: left to staleness
      await new FileLocker(dir, 60_000).sweepDead();
      expect(fs.readdirSync(dir).sort()).toEqual(["bare.lock", "far.lock", "mine.lock"]);
    });

    onLinux("takes over a lock whose PID now belongs to a process started at another time", async () => {
      const dir = path.join(tmp.dir, ".locks");
      leaveLock(dir, { pid: process.pid, start: `${Number(me!.start) - 1}` });
      const lock = await new FileLocker(dir, 60_000).acquire("core", { timeoutMs: 5_000 });
      lock.assertHeld();
      await lock.release();
    });

    onLinux(
      "does not judge a holder it cannot see: another host, boot or PID namespace waits for staleness",
      async () => {
        const dir = path.join(tmp.dir, ".locks");
        const locker = new FileLocker(dir, 60_000);
        // a PID that cannot exist (above Linux's maximum), so only the identity keeps it alive
        for (const other of [
          { host: `${me!.host}-elsewhere` },
          { boot: "another-boot" },
          { pidns: "pid:[1]" },
        ]) {
          leaveLock(dir, { pid: 2 ** 22 + 1, ...other });
          await expect(locker.acquire("core", { timeoutMs: 300 })).rejects.toMatchObject({ code: "ELOCKED" });
          expect(fs.existsSync(path.join(dir, "core.lock", OWNER_FILE))).toBe(true);
          fs.rmSync(path.join(dir, "core.lock"), { recursive: true });
        }
        // a record whose fields are not short printable words is none (its host would be quoted)
        expect(parseOwner(JSON.stringify({ ...me, host: "evil\u001b[2Jhost" }))).toBeNull();
        expect(parseOwner(JSON.stringify({ ...me, start: "1".repeat(300) }))).toBeNull();
        expect(parseOwner(JSON.stringify({ ...me, pid: 1.5 }))).toBeNull();
        expect(parseOwner(JSON.stringify({ ...me, extra: true }))).toEqual(me);
        // nor a record it cannot read
        fs.mkdirSync(path.join(dir, "core.lock"));
        fs.writeFileSync(path.join(dir, "core.lock", OWNER_FILE), "{not json");
        await expect(locker.acquire("core", { timeoutMs: 300 })).rejects.toMatchObject({ code: "ELOCKED" });
        // once stale, such a lock is taken over as before, record and all
        const old = new Date(Date.now() - 120_000);
        fs.utimesSync(path.join(dir, "core.lock"), old, old);
        const lock = await locker.acquire("core", { timeoutMs: 1_000 });
        lock.assertHeld();
        await lock.release();
        expect(fs.readdirSync(dir)).toEqual([]);
      },
    );
  });

  it("refuses a ref that would escape the lock directory", async () => {
    const locker = new FileLocker(path.join(tmp.dir, ".locks"), 2_000);
    await expect(locker.acquire("../evil", { timeoutMs: 100 })).rejects.toMatchObject({
      code: "EINVALID_REF",
    });
    expect(fs.existsSync(path.join(tmp.dir, "evil.lock"))).toBe(false);
  });

  it("stops waiting when aborted", async () => {
    const locker = new FileLocker(path.join(tmp.dir, ".locks"), 5_000);
    const held = await locker.acquire("core", { timeoutMs: 1_000 });
    const ac = new AbortController();
    const p = locker.acquire("core", { timeoutMs: 30_000, signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: "EABORTED", details: { aborted: true } });
    await held.release();
  });
});

describe("Journal", () => {
  it("writes, lists, reads and removes intents atomically", async () => {
    const j = new Journal(path.join(tmp.dir, ".journal"));
    expect(await j.refs()).toEqual([]);
    await j.write("core", {
      operation: "uninstall",
      version: "1.0.0",
      versions: ["1.0.0"],
      actorId: null,
      actorName: "t",
      method: "cli",
    });
    expect(await j.refs()).toEqual(["core"]);
    expect(await j.read("core")).toMatchObject({
      v: 1,
      ref: "core",
      operation: "uninstall",
      pid: process.pid,
    });
    expect(fs.readdirSync(path.join(tmp.dir, ".journal"))).toEqual(["core.json"]);
    await j.remove("core");
    expect(await j.read("core")).toBeNull();
  });

  it("ignores files whose names are not refs and refuses traversal", async () => {
    const dir = path.join(tmp.dir, ".journal");
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, "..json"), "{}");
    fs.writeFileSync(path.join(dir, "Bad Name.json"), "{}");
    const j = new Journal(dir);
    expect(await j.refs()).toEqual([]);
    await expect(j.read("../x")).rejects.toMatchObject({ code: "EINVALID_REF" });
  });

  it("sets aside an unreadable entry instead of trusting it", async () => {
    const dir = path.join(tmp.dir, ".journal");
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, "core.json"), "{not json");
    const j = new Journal(dir);
    await expect(j.read("core")).rejects.toMatchObject({ code: "EIO" });
    expect(await j.refs()).toEqual([]);
    expect(fs.readdirSync(dir).some((n) => n.startsWith("core.json.corrupt-"))).toBe(true);
  });
});
