import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { AttuneError, ErrorCodes, makeDirs, validateRef } from "@attune/pack-storage";
import type { PlannedRecord } from "./record";

/**
 * The intent journal: `<packsDir>/.journal/<ref>.json`, written (and fsynced) BEFORE the storage
 * move or the uninstall, removed only after the database commit and the file clean-up. A journal
 * file found by `reconcile()` under the ref lock therefore marks an operation that died midway.
 * One file per ref is enough because the ref lock admits one operation at a time.
 */
export const JOURNAL_VERSION = 1;

interface IntentBase {
  v: typeof JOURNAL_VERSION;
  ref: string;
  startedAt: string;
  pid: number;
  host: string;
}

export interface InstallIntent extends IntentBase {
  operation: "install";
  version: string;
  /** directory checksum of the staged tree: adoption requires the stored files to still match it */
  checksum: string;
  storagePath: string;
  /** version recorded before this operation (null for a first install) */
  previousVersion: string | null;
  /** everything needed to write the database rows, so reconcile can roll forward */
  record: PlannedRecord;
}

export interface UninstallIntent extends IntentBase {
  operation: "uninstall";
  versions: string[];
  version: string;
  actorId: number | null;
  actorName: string | null;
  /** the API token that acted, if one did (see Actor.tokenId) */
  tokenId?: number;
  method: string | null;
}

export type Intent = InstallIntent | UninstallIntent;

/**
 * When, where and by which process the interrupted attempt ran: an `interrupted` event is written
 * by whichever process settles the entry later (maybe days later), so its own time is not the
 * attempt's.
 */
export function attemptDetails(intent: Intent): { started_at: string; pid: number; host: string } {
  return { started_at: intent.startedAt, pid: intent.pid, host: intent.host };
}
export type NewIntent = Omit<InstallIntent, keyof IntentBase> | Omit<UninstallIntent, keyof IntentBase>;

export class Journal {
  constructor(readonly dir: string) {}

  private file(ref: string): string {
    return path.join(this.dir, `${validateRef(ref)}.json`); // the ref is a file name here: no traversal
  }

  async write(ref: string, intent: NewIntent): Promise<Intent> {
    const full = {
      v: JOURNAL_VERSION,
      ref,
      startedAt: new Date().toISOString(),
      pid: process.pid,
      host: os.hostname(),
      ...intent,
    } as Intent;
    const target = this.file(ref);
    const tmp = `${target}.${randomBytes(6).toString("hex")}.tmp`;
    try {
      await makeDirs(this.dir, 0o700);
      const fh = await fs.open(tmp, "w", 0o600);
      try {
        await fh.writeFile(JSON.stringify(full));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fs.rename(tmp, target);
      await syncDir(this.dir);
    } catch (e) {
      await fs.rm(tmp, { force: true }).catch(() => undefined);
      throw new AttuneError(ErrorCodes.EIO, `cannot write the install journal ${target}`, {
        cause: e,
        path: target,
      });
    }
    return full;
  }

  async remove(ref: string): Promise<void> {
    await fs.rm(this.file(ref), { force: true });
    await syncDir(this.dir).catch(() => undefined);
  }

  async read(ref: string): Promise<Intent | null> {
    let text: string;
    try {
      text = await fs.readFile(this.file(ref), "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw new AttuneError(ErrorCodes.EIO, `cannot read the install journal ${this.file(ref)}`, {
        cause: e,
        path: this.file(ref),
      });
    }
    try {
      const parsed = JSON.parse(text) as Intent;
      if (parsed.v !== JOURNAL_VERSION || parsed.ref !== ref) throw new Error("unexpected journal content");
      return parsed;
    } catch (e) {
      // a torn write cannot happen (tmp + rename), so this is foreign content: set it aside, never trust it
      await fs.rename(this.file(ref), `${this.file(ref)}.corrupt-${Date.now()}`).catch(() => undefined);
      throw new AttuneError(
        ErrorCodes.EIO,
        `the install journal of '${ref}' is unreadable; it was set aside`,
        {
          cause: e,
          path: this.file(ref),
        },
      );
    }
  }

  /** remove temp files of a write that died before its rename (call under the ref lock) */
  async removeTemp(ref: string): Promise<void> {
    const names = await fs.readdir(this.dir).catch(() => [] as string[]);
    for (const n of names)
      if (n.startsWith(`${ref}.json.`) && n.endsWith(".tmp"))
        await fs.rm(path.join(this.dir, n), { force: true });
  }

  /**
   * Refs with a journal entry, or with only a temporary one: a process killed while writing its
   * intent (before the rename) leaves `<ref>.json.<hex>.tmp`, which the ref's next resolution
   * (under its lock, so never a live writer's) removes.
   */
  async refs(): Promise<string[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw e;
    }
    const refs = new Set<string>();
    for (const n of names) {
      // names that are not valid refs are not ours (and must never reach a path join)
      const ref = n.endsWith(".json") ? n.slice(0, -5) : TEMP_NAME.exec(n)?.[1];
      if (ref !== undefined && isRef(ref)) refs.add(ref);
    }
    return [...refs].sort();
  }
}

/** `<ref>.json.<12 hex>.tmp`, as `write` names its temporary file */
const TEMP_NAME = /^(.+)\.json\.[0-9a-f]{12}\.tmp$/;

async function syncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function isRef(name: string): boolean {
  try {
    validateRef(name);
    return true;
  } catch {
    return false;
  }
}
