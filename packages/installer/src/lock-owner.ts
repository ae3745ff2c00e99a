// Who holds an embedded store's file lock, so that a lock left by a process that was killed
// (SIGKILL, a crash, the machine's OOM killer) is taken over at once instead of after the mtime
// staleness period (lockStaleMs, 10 s by default) during which every command waits silently.
//
// The record is written INTO the lock directory right after proper-lockfile's mkdir made it (the
// `fs` handed to proper-lockfile below), so it always belongs to that very directory: a fresh
// lock directory is empty until its own holder writes its record, and no record of an earlier
// holder can be mistaken for the current one. Removing the lock removes the record with it.
//
// A holder is judged dead only when this process can see it: same host name, same boot of the
// kernel (boot_id) and same PID namespace, and then its PID either no longer exists (kill(pid, 0):
// ESRCH), is a zombie, or belongs to a process started at another time (the PID was reused). A PID
// that exists but whose /proc entry cannot be read (hidepid) counts as alive. Anything else (another
// machine sharing the packs directory, another container, a system without /proc, no record, an
// unreadable one) falls back to the mtime staleness, as before.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pidNamespace, processAlive, processStart } from "@attune/pack-storage";

export interface LockOwner {
  pid: number;
  host: string;
  /** /proc/sys/kernel/random/boot_id: changes with every boot */
  boot: string;
  /** the PID namespace (/proc/self/ns/pid), e.g. "pid:[4026531836]" */
  pidns: string;
  /** the process's start time, in clock ticks since boot (/proc/<pid>/stat, field 22) */
  start: string;
}

/** The record's file name inside the lock directory. */
export const OWNER_FILE = "owner";

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, "utf8").trim();
  } catch {
    return null;
  }
}

let self: LockOwner | null | undefined;

/** This process's record, or null where the system does not tell enough (no /proc). */
export function selfOwner(): LockOwner | null {
  if (self !== undefined) return self;
  const boot = readText("/proc/sys/kernel/random/boot_id");
  const pidns = pidNamespace();
  const start = processStart(process.pid);
  self = boot && pidns && start ? { pid: process.pid, host: os.hostname(), boot, pidns, start } : null;
  return self;
}

const MAX_OWNER_BYTES = 4096;
const READ_OWNER = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;

/**
 * The holder recorded in the lock directory `lockDir`, or null: none, or anything but a small
 * regular file (never read through a link; O_NONBLOCK, so a FIFO put there cannot hang the read).
 */
export async function readOwner(lockDir: string): Promise<LockOwner | null> {
  let fh: fs.promises.FileHandle | undefined;
  try {
    fh = await fs.promises.open(path.join(lockDir, OWNER_FILE), READ_OWNER);
    const st = await fh.stat();
    if (!st.isFile() || st.size > MAX_OWNER_BYTES) return null;
    const buf = Buffer.alloc(MAX_OWNER_BYTES + 1);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return bytesRead > MAX_OWNER_BYTES ? null : parseOwner(buf.toString("utf8", 0, bytesRead));
  } catch {
    return null;
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/** A record read back from a lock directory, or null when it is missing or not one of ours. */
export function parseOwner(text: string | null): LockOwner | null {
  if (text === null) return null;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  const o = v as Partial<LockOwner> | null;
  // short printable strings only: the host name is quoted in a timed-out wait's message
  const word = (x: unknown) => typeof x === "string" && x.length <= 255 && /^[\x21-\x7e]+$/.test(x);
  if (
    typeof o !== "object" ||
    o === null ||
    !Number.isSafeInteger(o.pid) ||
    (o.pid as number) <= 0 ||
    !word(o.host) ||
    !word(o.boot) ||
    !word(o.pidns) ||
    !word(o.start)
  )
    return null;
  return { pid: o.pid as number, host: o.host!, boot: o.boot!, pidns: o.pidns!, start: o.start! };
}

/** Whether the holder recorded is certainly gone (see the top of this file); false when unsure. */
export function holderIsDead(owner: LockOwner, me: LockOwner | null = selfOwner()): boolean {
  if (!me || owner.host !== me.host || owner.boot !== me.boot || owner.pidns !== me.pidns) return false;
  return !processAlive(owner.pid, owner.start);
}

type Callback = (err: NodeJS.ErrnoException | null) => void;

/**
 * The file system proper-lockfile works through: mkdir also writes this process's record into the
 * new lock directory (before proper-lockfile dates it, so the record does not disturb its mtime
 * bookkeeping); removing the directory removes the record with it. Writing the record may fail (a
 * full disk): the lock is held all the same, only without the fast takeover.
 */
export const ownerRecordingFs: object = {
  ...fs,
  mkdir(dir: string, cb: Callback): void {
    fs.mkdir(dir, (err) => {
      if (err) return cb(err);
      const me = selfOwner();
      if (!me) return cb(null);
      fs.writeFile(path.join(dir, OWNER_FILE), JSON.stringify(me), { flag: "wx", mode: 0o600 }, () =>
        cb(null),
      );
    });
  },
  // the whole directory: the record, and anything else put there (an editor's swap file of the
  // record) that would make a plain rmdir fail with ENOTEMPTY and wedge the lock for good; a link
  // in it is removed, never followed; a lock already gone stays ENOENT (proper-lockfile ignores it)
  rmdir(dir: string, cb: Callback): void {
    fs.rm(dir, { recursive: true }, cb);
  },
  rmdirSync(dir: string): void {
    fs.rmSync(dir, { recursive: true });
  },
};
