import type { Checksum } from "@attune/pack-storage";

/** An interrupted install that never learnt its pack's ref (see ReconcileReport.unnamed). */
export interface UnnamedAttempt {
  requested_source: string;
  started_at: string;
  pid: number;
  host: string;
}

export type SourceType = "git" | "archive" | "local_directory" | "local_archive" | "registry";
export type InstallationMethod = "api" | "cli" | "manual";
export type EventAction =
  "install" | "upgrade" | "downgrade" | "reinstall" | "uninstall" | "verify" | "failed";
export type EventOutcome = "success" | "failure" | "interrupted";

/** What a caller (API body, CLI flags) asks for. */
export interface InstallRequest {
  /** URL, local path, or `ref[@version]` to resolve in the registries */
  source: string;
  /** git ref (tag, branch or commit) for git sources */
  refSpec?: string;
  /** reinstall when the same ref+version is already present */
  force?: boolean;
  /** expected `sha256:` checksum (of the pack directory, or of the archive bytes for archive sources) */
  checksum?: string;
  skipDeps?: boolean;
  skipTests?: boolean;
  /** restrict registry resolution to this registry name */
  registry?: string;
  /** read the registry indexes again instead of using copies younger than the cache TTL */
  refresh?: boolean;
  method: InstallationMethod;
}

/** Who acts: `identityId` is recorded as `installed_by`, `name` in the history. */
export interface Actor {
  identityId: number | null;
  name: string | null;
  /**
   * The API token that acted, when one did: tokens of one name share an identity, so the history
   * records the token too (`details.token_id`, and `meta.token_id` of an installation).
   */
  tokenId?: number | null;
}

/** What an event's details say of the actor beyond its identity: the token that acted, if any. */
export function actorDetails(actor: Actor | undefined): { token_id?: number } {
  return typeof actor?.tokenId === "number" ? { token_id: actor.tokenId } : {};
}

export type ProgressPhase =
  | "wait" // for another operation on the same pack (its lock), once, when it has to wait
  | "fetch"
  | "extract"
  | "validate"
  | "dependencies"
  | "hash"
  | "store"
  | "record";

/** Emitted for progress bars (CLI) and logs (API); `bytes`/`files` are cumulative within a phase. */
export interface ProgressEvent {
  phase: ProgressPhase;
  bytes?: number;
  totalBytes?: number;
  files?: number;
  message?: string;
}

export interface OperationOptions {
  onProgress?: (e: ProgressEvent) => void;
  signal?: AbortSignal;
}

/** The snake_case JSON of a Pack row (DESIGN.md §7), emitted by both apps. */
export interface PackJson {
  id: number;
  ref: string;
  label: string;
  description: string | null;
  version: string;
  tags: string[];
  conf_schema: unknown;
  meta: Record<string, unknown>;
  runtime_deps: string[];
  dependencies: string[];
  created: string;
  updated: string;
}

export interface InstallationJson {
  id: number;
  pack_id: number;
  source_type: SourceType;
  source_url: string | null;
  source_ref: string | null;
  resolved_commit: string | null;
  checksum: string;
  checksum_verified: boolean;
  installed_at: string;
  installed_by: number | null;
  installation_method: InstallationMethod;
  storage_path: string;
  meta: Record<string, unknown>;
  created: string;
  updated: string;
}

export interface EventJson {
  id: number;
  pack_ref: string;
  version: string | null;
  action: string;
  outcome: string;
  source_type: string | null;
  source_url: string | null;
  actor_id: number | null;
  actor_name: string | null;
  method: string | null;
  error: string | null;
  details: Record<string, unknown>;
  created: string;
}

/** A dependency of pack.yaml that is not installed at a version in its range. */
export interface DependencyProblem {
  ref: string;
  range: string;
  /** the version installed (out of range), or null when the pack is not installed */
  installed: string | null;
}

/** An installed pack that needs another pack in a range a change leaves unsatisfied. */
export interface Dependent {
  ref: string;
  version: string;
  /** what it needs of the changed pack */
  range: string;
}

export interface InstallResult {
  pack: PackJson;
  installation: InstallationJson;
  /** true when the ref was not installed before (API: 201), false when replaced/upgraded (200) */
  created: boolean;
  /** install | upgrade | downgrade | reinstall */
  action: EventAction;
  /** the previous version when this replaced one */
  previousVersion: string | null;
  /** `runtime_deps` of pack.yaml: reported, never installed by us */
  runtimeDeps: string[];
  /** with skipDeps: this pack's dependencies left unmet (not installed, or out of range) */
  unmetDependencies: DependencyProblem[];
  /** with skipDeps: installed packs whose range for this pack its new version does not meet */
  brokenDependents: Dependent[];
}

export interface VerifyReport {
  ref: string;
  version: string | null;
  ok: boolean;
  expected: string | null;
  actual: Checksum | null;
  changed: string[];
  added: string[];
  removed: string[];
  /** false when the installation has no per-file manifest (file lists are then empty) */
  fileListAvailable: boolean;
  /** why the tree could not be hashed at all (e.g. a symlink was planted in it) */
  error?: string;
  /**
   * Why the `verify` event could not be written to the history (a locked or read-only database):
   * the result above stands; only its record is missing.
   */
  historyError?: string;
}

export interface PackWithInstallation {
  pack: PackJson;
  installation: InstallationJson | null;
}

export interface ListFilter {
  sourceType?: SourceType;
  page?: number;
  pageSize?: number;
}

export interface ListResult {
  items: PackWithInstallation[];
  page: number;
  pageSize: number;
  totalItems: number;
  totalPages: number;
}

/**
 * A page of a ref's history. Pages count from the newest end: page 1 holds the newest `pageSize`
 * events, page `totalPages` the oldest; within a page events are oldest first, as in the whole history.
 */
export interface HistoryFilter {
  /** 1-based, default 1 (the newest events) */
  page?: number;
  /** default 20, at most 500 */
  pageSize?: number;
}

export interface HistoryPage {
  /** oldest first within the page */
  items: EventJson[];
  page: number;
  pageSize: number;
  /** every event of the ref */
  totalItems: number;
  totalPages: number;
}

export interface UninstallResult {
  ref: string;
  /** versions whose files were removed */
  removed: string[];
  /** true when the pack's rows were deleted */
  recordDeleted: boolean;
  /** with skipDeps: installed packs that needed the removed pack and now go without it */
  brokenDependents: Dependent[];
}

/** What `reconcile()` found and did; see docs/install-flow.md. */
export interface ReconcileReport {
  /** interrupted operations found in the journal, and what was done */
  interrupted: Array<{
    ref: string;
    version: string;
    operation: "install" | "uninstall";
    resolution: "adopted" | "rolled_back" | "completed";
    detail?: string;
  }>;
  /** rows whose files are missing (flagged, not deleted: reinstall with force) */
  missingFiles: Array<{ ref: string; version: string; storagePath: string }>;
  /** pack directories without a matching row (flagged, left in place) */
  untracked: Array<{ ref: string; version: string | null; path: string }>;
  /** refs skipped because another live process holds their lock */
  busy: string[];
  /** refs whose repair failed (their journal entry is kept; the next start retries) */
  failed: Array<{ ref: string; code: string; message: string }>;
  /**
   * installs whose process died before they knew the pack's ref (fetching or extracting it): no
   * pack's history can take them, so they are only reported (see `interrupted` for the others)
   */
  unnamed: UnnamedAttempt[];
}

/** What an install or uninstall settled, before its own work, of earlier operations' leftovers. */
export interface CleanupReport {
  /** journal entries of other refs settled, as reconcile would (e.g. an uninstall's files removed) */
  interrupted: ReconcileReport["interrupted"];
  /** what could not be settled now (kept for the next write or the next start); ref null: the trash */
  failed: Array<{ ref: string | null; code: string; message: string }>;
  /** trash entries deleted (earlier deletions that had failed, or a dead process's), and dead processes' staging dirs */
  trashRemoved: string[];
  /** as ReconcileReport.unnamed */
  unnamed: UnnamedAttempt[];
}
