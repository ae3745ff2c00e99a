// Install attempts in progress: `<packsDir>/.attempts/<owner tag>.json` (pack-storage's ownedSuffix(): pid,
// start time, host), one per install
// from its start until its intent is journaled (the journal then speaks for it) or it fails (its
// `failed` event does). A process killed in between (fetching, extracting, hashing: most of an
// install's time) leaves its file behind; the next write or start finds its owner dead and records
// the attempt as `interrupted` in the pack's history. Nothing else depends on these files: they are
// written without fsync (a lost one only loses that record), and a write that fails is ignored.
import { constants as fsConstants } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { isAbandoned, isValidRef, isValidVersion, makeDirs, ownedSuffix } from "@attune/pack-storage";
import type { InstallerContext } from "./context";
import { appendEventKeepingActor } from "./events";
import type { EventData } from "./record";
import {
  actorDetails,
  type Actor,
  type InstallationMethod,
  type ReconcileReport,
  type SourceType,
  type UnnamedAttempt,
} from "./types";

/** What an attempt file says of its install. */
export interface AttemptInfo {
  started_at: string;
  pid: number;
  host: string;
  /** the pack's ref and version once known (a registry ref at once; else from pack.yaml) */
  ref: string | null;
  version: string | null;
  /** what the install was doing when last written */
  phase: "fetch" | "validate";
  source_type: SourceType | null;
  requested_source: string;
  requested_ref: string | null;
  force: boolean;
  actor_id: number | null;
  actor_name: string | null;
  token_id: number | null;
  method: InstallationMethod | null;
}

const SUFFIX = ".json";

export class Attempts {
  constructor(readonly dir: string) {}

  /** Record an install's start; the handle updates and ends it. Never throws. */
  async start(info: Omit<AttemptInfo, "started_at" | "pid" | "host" | "phase">): Promise<AttemptHandle> {
    const file = path.join(this.dir, `${ownedSuffix()}${SUFFIX}`);
    const handle = new AttemptHandle(file, {
      ...info,
      started_at: new Date().toISOString(),
      pid: process.pid,
      host: os.hostname(),
      phase: "fetch",
    });
    await makeDirs(this.dir, 0o700).catch(() => undefined);
    await handle.write();
    return handle;
  }

  /**
   * The attempts whose process is gone, each claimed first (renamed to a name owned by this
   * process, so two processes settling at once never record one twice) and read. The caller
   * settles each claim: `done()` removes it; `retry()` puts it back for the next settling (a
   * record that could not be written now). Unreadable files are removed without a record.
   */
  async takeAbandoned(): Promise<ClaimedAttempt[]> {
    const names = await fs.readdir(this.dir).catch(() => [] as string[]);
    const out: ClaimedAttempt[] = [];
    for (const name of names) {
      if (name.endsWith(`${SUFFIX}.tmp`)) {
        // a write that died before its rename
        const abs = path.join(this.dir, name);
        const st = await fs.lstat(abs).catch(() => null);
        if (st && isAbandoned(name.slice(0, -SUFFIX.length - 4), Date.now() - st.mtimeMs))
          await fs.rm(abs, { force: true }).catch(() => undefined);
        continue;
      }
      if (!name.endsWith(SUFFIX)) continue;
      const owner = name.slice(0, -SUFFIX.length);
      const abs = path.join(this.dir, name);
      const st = await fs.lstat(abs).catch(() => null);
      if (!st || !isAbandoned(owner, Date.now() - st.mtimeMs)) continue;
      // a claim is owned by this process: should it die while settling, the claim is abandoned in turn
      const claim = path.join(this.dir, `${owner}.claim~${ownedSuffix()}${SUFFIX}`);
      if (
        !(await fs.rename(abs, claim).then(
          () => true,
          () => false, // another process claimed it first
        ))
      )
        continue;
      const info = await readAttempt(claim);
      // (recursive: a directory planted in its place goes too; a link is removed, never followed)
      const done = () => fs.rm(claim, { recursive: true, force: true }).catch(() => undefined);
      if (!info) {
        await done();
        continue;
      }
      out.push({ info, done, retry: () => fs.rename(claim, abs).catch(done) });
    }
    return out;
  }
}

export interface ClaimedAttempt {
  info: AttemptInfo;
  /** the attempt is accounted for: remove its file */
  done(): Promise<void>;
  /** its record could not be written now: put it back for the next write or start */
  retry(): Promise<void>;
}

const MAX_ATTEMPT_BYTES = 64 * 1024;
const READ_FLAGS = fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK;
// eslint-disable-next-line no-control-regex -- the control characters are what is refused
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const PHASES = new Set(["fetch", "validate"]);
const SOURCE_TYPES = new Set(["git", "archive", "local_directory", "local_archive", "registry"]);
const METHODS = new Set(["api", "cli", "manual"]);

/**
 * An attempt file as an install of this user writes it; null for anything else, which is removed
 * without a record: not a regular file (a FIFO would block the read, a link is never followed),
 * another owner or a mode open to others (an install writes 0600), over 64 KiB, not JSON, or any
 * field out of its shape (these fields become a history event: who, when, from where).
 */
async function readAttempt(file: string): Promise<AttemptInfo | null> {
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(file, READ_FLAGS);
    const st = await fh.stat();
    if (!st.isFile() || st.size > MAX_ATTEMPT_BYTES || (st.mode & 0o077) !== 0) return null;
    if (typeof process.getuid === "function" && st.uid !== process.getuid()) return null;
    const buf = Buffer.alloc(MAX_ATTEMPT_BYTES + 1);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    if (bytesRead > MAX_ATTEMPT_BYTES) return null;
    return validAttempt(JSON.parse(buf.toString("utf8", 0, bytesRead)));
  } catch {
    return null;
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

function validAttempt(v: unknown): AttemptInfo | null {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
  const a = v as Record<string, unknown>;
  const text = (x: unknown, max = 4096) => typeof x === "string" && x.length <= max && !CONTROL.test(x);
  const textOrNull = (x: unknown, max?: number) => x === null || text(x, max);
  const count = (x: unknown) => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
  const ok =
    text(a.requested_source) &&
    a.requested_source !== "" &&
    text(a.started_at, 40) &&
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(a.started_at as string) &&
    !Number.isNaN(Date.parse(a.started_at as string)) &&
    count(a.pid) &&
    text(a.host, 255) &&
    (a.ref === null || (typeof a.ref === "string" && isValidRef(a.ref))) &&
    (a.version === null || (typeof a.version === "string" && isValidVersion(a.version))) &&
    PHASES.has(a.phase as string) &&
    (a.source_type === null || SOURCE_TYPES.has(a.source_type as string)) &&
    textOrNull(a.requested_ref, 1024) &&
    typeof a.force === "boolean" &&
    (a.actor_id === null || count(a.actor_id)) &&
    textOrNull(a.actor_name, 255) &&
    (a.token_id === null || count(a.token_id)) &&
    (a.method === null || METHODS.has(a.method as string));
  return ok ? (a as unknown as AttemptInfo) : null;
}

export class AttemptHandle {
  private ended = false;
  constructor(
    private readonly file: string,
    private readonly info: AttemptInfo,
  ) {}

  /** Say what is known now (the ref once read, the phase); a no-op once ended. */
  async update(change: Partial<Pick<AttemptInfo, "ref" | "version" | "phase">>): Promise<void> {
    if (this.ended) return;
    Object.assign(this.info, change);
    await this.write();
  }

  /** The attempt is accounted for (journaled, or failed and recorded): remove its file. */
  async end(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await fs.rm(this.file, { force: true }).catch(() => undefined);
  }

  async write(): Promise<void> {
    const tmp = `${this.file}.tmp`;
    try {
      await fs.writeFile(tmp, JSON.stringify(this.info), { mode: 0o600 });
      if (this.ended) return void (await fs.rm(tmp, { force: true }));
      await fs.rename(tmp, this.file);
    } catch {
      await fs.rm(tmp, { force: true }).catch(() => undefined);
    }
  }
}

/** The actor fields of an attempt file, from the install's actor. */
export function attemptActor(actor: Actor, method: InstallationMethod | null) {
  return {
    actor_id: actor.identityId,
    actor_name: actor.name,
    token_id: actorDetails(actor).token_id ?? null,
    method,
  };
}

/** The `interrupted` event of an attempt that died before its intent was journaled. */
export function interruptedAttemptEvent(a: AttemptInfo & { ref: string }): EventData {
  const while_ = a.phase === "validate" ? "while checking the pack" : "while fetching the source";
  return {
    packRef: a.ref,
    version: a.version,
    action: "install",
    outcome: "interrupted",
    sourceType: a.source_type,
    sourceUrl: a.source_type === "registry" ? null : a.requested_source,
    actorId: a.actor_id,
    actorName: a.actor_name,
    method: a.method,
    error: `EINTERRUPTED: interrupted ${while_}, before anything was stored; nothing was installed`,
    details: {
      resolution: "rolled_back",
      phase: a.phase,
      requested_source: a.requested_source,
      ...(a.requested_ref !== null ? { requested_ref: a.requested_ref } : {}),
      force: a.force,
      ...(a.token_id !== null ? { token_id: a.token_id } : {}),
      started_at: a.started_at,
      pid: a.pid,
      host: a.host,
    },
  };
}

/** Whether the attempt learnt its pack's ref (readAttempt has checked that one is valid). */
function hasRef(a: AttemptInfo): a is AttemptInfo & { ref: string } {
  return a.ref !== null;
}

/**
 * Record every abandoned attempt (its process is gone) as `interrupted` in its pack's history, unless
 * its intent was journaled (a crash right after the journal write, before the attempt's file went:
 * the journal's resolution records it). An attempt that never learnt its ref is returned as unnamed.
 * Never throws: an attempt whose event cannot be written now (a locked database) is put back for
 * the next write or start; a file that is not an attempt's is removed without a record.
 */
export async function settleAttempts(
  ctx: InstallerContext,
): Promise<{ interrupted: ReconcileReport["interrupted"]; unnamed: UnnamedAttempt[] }> {
  const interrupted: ReconcileReport["interrupted"] = [];
  const unnamed: UnnamedAttempt[] = [];
  let abandoned: ClaimedAttempt[] = [];
  try {
    abandoned = await ctx.attempts.takeAbandoned();
  } catch {
    // unreadable now: the next write or start looks again
  }
  for (const { info: a, done, retry } of abandoned) {
    if (!hasRef(a)) {
      unnamed.push({
        requested_source: a.requested_source,
        started_at: a.started_at,
        pid: a.pid,
        host: a.host,
      });
      await done();
      continue;
    }
    const intent = await ctx.journal.read(a.ref).catch(() => null);
    if (intent && intent.pid === a.pid && intent.host === a.host) {
      await done(); // killed right after its journal write: the journal's resolution records it
      continue;
    }
    const event = interruptedAttemptEvent(a);
    const written = await appendEventKeepingActor(ctx, event).then(
      () => true,
      () => false,
    );
    if (!written) {
      await retry(); // a database that cannot be written now: the next write or start records it
      continue;
    }
    await done();
    interrupted.push({
      ref: a.ref,
      version: a.version ?? "",
      operation: "install",
      resolution: "rolled_back",
      detail: event.error!.replace(/^EINTERRUPTED: /, ""),
    });
  }
  return { interrupted, unnamed };
}
