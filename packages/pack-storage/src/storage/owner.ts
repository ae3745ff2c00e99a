// Internal entries (staging dirs, temp links, store dirs not yet linked, trash) carry the pid and
// host of the process that made them, so cleanup at start-up removes a crashed process's leftovers
// at once but never the work of a live process (another CLI run, an API instance) on the same host.
// Where /proc tells it, the tag also holds the process's start time: a pid alone is reused, and a
// container's entrypoint is pid 1 again after every restart, on the same host name, so without it
// a crashed server's leftovers would look like the restarted server's own work for ever.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";

/**
 * Which processes' pids this process can judge: the host name and the PID namespace. Containers of
 * one pod, or a container on the host network beside a CLI on the host, share a host name but not
 * their pids: an entry of a live process there would look dead here (its pid missing, or another
 * process's). With the namespace in the tag, such entries are foreign (removed only after the
 * grace period). The namespace outlives a reboot on a host (the initial one keeps its number), so a
 * crashed host's leftovers are still removed at its next start.
 */
function hostTag(): string {
  const pidns = pidNamespace(); // null: no /proc (another OS), the host name alone
  const key = pidns === null ? os.hostname() : `${os.hostname()}\0${pidns}`;
  return crypto.createHash("sha256").update(key).digest("hex").slice(0, 8);
}

/**
 * This process's PID namespace (`/proc/self/ns/pid`, e.g. "pid:[4026531836]"), or null where there
 * is no /proc: the pids this process can judge are those of its own namespace. Shared with the
 * installer's lock owner records.
 */
export function pidNamespace(): string | null {
  try {
    return fs.readlinkSync("/proc/self/ns/pid");
  } catch {
    return null;
  }
}

const HOST = hostTag();
/** Entries of unknown or foreign owners are removed only after this long. */
export const FOREIGN_GRACE_MS = 24 * 60 * 60 * 1000;

/**
 * What /proc says of process `pid`: its state (field 3) and when it started, in clock ticks since
 * boot (field 22); null where /proc does not say (another OS, or the process is gone).
 */
function procStat(pid: number): { state: string; start: string | null } | null {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return null;
  }
  // "pid (comm) S ppid …": comm may hold spaces and parentheses, so fields count from the last ")"
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = fields[19]; // field 22 of the whole line; fields[0] is the state, field 3
  return { state: fields[0] ?? "", start: ticks !== undefined && /^\d+$/.test(ticks) ? ticks : null };
}

let ownStart: string | null | undefined;
function selfStart(): string | null {
  ownStart ??= procStat(process.pid)?.start ?? null;
  return ownStart;
}

/**
 * When process `pid` started, in clock ticks since boot (/proc/<pid>/stat, field 22); null where
 * /proc does not say (another OS, or no such process). With a pid, it tells that process from a
 * later one given the same pid.
 */
export function processStart(pid: number = process.pid): string | null {
  return pid === process.pid ? selfStart() : (procStat(pid)?.start ?? null);
}

/**
 * `<pid>.<start>@<host-hash>~<random>` (`<pid>@…` where the start time is unknown): the unique,
 * owner-tagged suffix of every internal name.
 */
export function ownedSuffix(): string {
  const start = selfStart();
  return `${process.pid}${start === null ? "" : `.${start}`}@${HOST}~${crypto.randomBytes(6).toString("hex")}`;
}

function parseOwner(name: string): { pid: number; start: string | null; host: string } | null {
  const m = /(?:^|~)(\d+)(?:\.(\d+))?@([0-9a-f]{8})~[0-9a-f]{12}$/.exec(name);
  return m ? { pid: Number(m[1]), start: m[2] ?? null, host: m[3] } : null;
}

/**
 * Whether the process that `pid` and `start` (processStart's value, or null when unknown) name still
 * runs: that pid exists (kill(pid, 0), which /proc's hidepid cannot hide) and is neither a zombie
 * nor a process started at another time. True when unsure. Used for the owner tags of internal
 * entries here, and by the installer for the holders of its file locks.
 */
export function processAlive(pid: number, start: string | null): boolean {
  if (pid === process.pid) return start === null || start === selfStart();
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to another user
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  // one read of /proc: a pid reused since the tag was made is not the owner, and a killed process
  // whose parent has not yet collected it (a supervisor or shell that waits late) still answers
  // kill(pid, 0) but will never finish its work
  const proc = procStat(pid);
  if (proc === null) return true; // no /proc (another OS), or it is gone: kill(pid, 0) decided
  if (start !== null && proc.start !== null && proc.start !== start) return false;
  return proc.state !== "Z" && proc.state !== "X";
}

/** Whether an internal entry was made by this very process. */
export function isOwn(name: string): boolean {
  const owner = parseOwner(name);
  return (
    owner !== null &&
    owner.host === HOST &&
    owner.pid === process.pid &&
    (owner.start === null || owner.start === selfStart())
  );
}

/** Whether an internal entry is garbage: its owner is dead on this host, or it is old and not ours. */
export function isAbandoned(name: string, ageMs: number): boolean {
  const owner = parseOwner(name);
  if (owner && owner.host === HOST) return !processAlive(owner.pid, owner.start);
  return ageMs > FOREIGN_GRACE_MS;
}
