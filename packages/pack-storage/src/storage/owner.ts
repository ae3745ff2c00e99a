// Internal entries (staging dirs, temp links, store dirs not yet linked, trash) carry the pid and
// host of the process that made them, so cleanup at start-up removes a crashed process's leftovers
// at once but never the work of a live process (another CLI run, an API instance) on the same host.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";

const HOST = crypto.createHash("sha256").update(os.hostname()).digest("hex").slice(0, 8);
/** Entries of unknown or foreign owners are removed only after this long. */
export const FOREIGN_GRACE_MS = 24 * 60 * 60 * 1000;

/** `<pid>@<host-hash>~<random>`: the unique, owner-tagged suffix of every internal name. */
export function ownedSuffix(): string {
  return `${process.pid}@${HOST}~${crypto.randomBytes(6).toString("hex")}`;
}

function parseOwner(name: string): { pid: number; host: string } | null {
  const m = /(?:^|~)(\d+)@([0-9a-f]{8})~[0-9a-f]{12}$/.exec(name);
  return m ? { pid: Number(m[1]), host: m[2] } : null;
}

function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to another user
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  return !isZombie(pid);
}

/**
 * A killed process whose parent has not yet collected it (a supervisor or shell that waits late)
 * still answers kill(pid, 0), but it will never finish its work: on Linux, /proc says so.
 */
function isZombie(pid: number): boolean {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return false; // no /proc (another OS), or it is gone: kill(pid, 0) decided
  }
  // "pid (comm) S ...": comm may hold spaces and parentheses, so the state follows the last ")"
  const state = stat.charAt(stat.lastIndexOf(")") + 2);
  return state === "Z" || state === "X";
}

/** Whether an internal entry was made by this very process. */
export function isOwn(name: string): boolean {
  const owner = parseOwner(name);
  return owner !== null && owner.host === HOST && owner.pid === process.pid;
}

/** Whether an internal entry is garbage: its owner is dead on this host, or it is old and not ours. */
export function isAbandoned(name: string, ageMs: number): boolean {
  const owner = parseOwner(name);
  if (owner && owner.host === HOST) return !pidAlive(owner.pid);
  return ageMs > FOREIGN_GRACE_MS;
}
