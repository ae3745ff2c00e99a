// Internal entries (staging dirs, temp links, store dirs not yet linked, trash) carry the pid and
// host of the process that made them, so cleanup at start-up removes a crashed process's leftovers
// at once but never the work of a live process (another CLI run, an API instance) on the same host.
import crypto from "node:crypto";
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
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Whether an internal entry is garbage: its owner is dead on this host, or it is old and not ours. */
export function isAbandoned(name: string, ageMs: number): boolean {
  const owner = parseOwner(name);
  if (owner && owner.host === HOST) return !pidAlive(owner.pid);
  return ageMs > FOREIGN_GRACE_MS;
}
