/**
 * What the pack commands need from a store. Local mode wraps @attune/installer; remote mode
 * calls the HTTP API. Both return the same snake_case JSON (DESIGN.md §7), so output shapes
 * do not depend on the mode.
 */
import type { DependencyWarningsJson } from "@attune/installer";
import type { ProgressUpdate } from "../progress";

export type Json = Record<string, unknown>;

export interface PackRecord {
  pack: Json;
  installation: Json | null;
}

/** The API's pagination object (`GET /api/v1/packs`, a paged history). */
export interface Pagination {
  page: number;
  page_size: number;
  total_items: number;
  total_pages: number;
}

/**
 * One page of a history, in the API's shape: page 1 holds the newest `page_size` events, the last
 * page the oldest; `data` is oldest first.
 */
export interface HistoryPage {
  data: Json[];
  pagination: Pagination;
}

/** What an install or uninstall with --skip-deps let through (the API's fields, snake_case). */
export type DependencyWarnings = DependencyWarningsJson;

export interface InstallResult extends PackRecord, DependencyWarnings {
  created?: boolean;
}

export interface VerifyReport {
  ref: string;
  version: string | null;
  ok: boolean;
  expected: string | null;
  actual: string | null;
  changed: string[];
  added: string[];
  removed: string[];
  /** why the tree could not be hashed at all (a planted link, a special file), else null */
  error: string | null;
}

/** A verify whose history event could not be written still reports its result, with a warning. */
export function warnIfUnrecorded(ref: string, historyError: string | null | undefined): void {
  if (historyError)
    process.stderr.write(
      `attune: warning: the verify of ${ref} is not in its history (${historyError}); the result below stands\n`,
    );
}

/** The one shape both modes print (the installer's report carries more). */
export function verifyReport(r: VerifyReport): VerifyReport {
  return {
    ref: r.ref,
    version: r.version,
    ok: r.ok,
    expected: r.expected,
    actual: r.actual,
    changed: r.changed,
    added: r.added,
    removed: r.removed,
    error: r.error ?? null,
  };
}

export interface SearchHit extends Json {
  ref: string;
  registry: string;
}

/** A registry that could not be read fresh during a search (results may be missing or old). */
export interface RegistryProblem {
  registry: string;
  status: "stale" | "error";
  detail: string | null;
  /** how to mend it (remote mode: on the API server), when known */
  hint: string | null;
  /** how old the copy used is (stale), in seconds */
  ageSeconds: number | null;
}

export interface SearchOutcome {
  hits: SearchHit[];
  problems: RegistryProblem[];
  /**
   * Why no registry was searched at all, so that an empty list is not read as "no such pack":
   * none is configured (here, or on the API server), or every one configured is disabled.
   */
  nothingSearched?: "none" | "none-on-server" | "all-disabled";
}

export interface InstallArgs {
  source: string;
  ref?: string;
  force?: boolean;
  checksum?: string;
  skipDeps?: boolean;
  skipTests?: boolean;
  registry?: string;
  refresh?: boolean;
}

export interface PackBackend {
  readonly mode: "local" | "remote";
  /** `signal`: Ctrl-C; honoured until the install commits to finishing (see docs/install-flow.md) */
  install(
    req: InstallArgs,
    /** undefined when nothing is drawn (quiet, or stderr is no terminal): no reports are built */
    onProgress: ((u: ProgressUpdate) => void) | undefined,
    signal?: AbortSignal,
  ): Promise<InstallResult>;
  /** `skipDeps`: even when installed packs depend on it */
  uninstall(
    ref: string,
    version?: string,
    skipDeps?: boolean,
  ): Promise<{ ref: string; removed: string[] } & DependencyWarnings>;
  list(sourceType?: string): Promise<PackRecord[]>;
  show(ref: string): Promise<PackRecord>;
  /**
   * Whether files of `ref` `version` are on disk though not recorded (what `uninstall --version`
   * also removes); only local mode can tell, the API does not say.
   */
  hasUntrackedVersion?(ref: string, version: string): Promise<boolean>;
  history(ref: string): Promise<Json[]>;
  /** one page of the history (paged by the database); ENOTFOUND as `history` */
  historyPage(ref: string, paging: { page: number; pageSize: number }): Promise<HistoryPage>;
  verify(ref: string): Promise<VerifyReport>;
  verifyAll(): Promise<VerifyReport[]>;
  /** `refresh`: read every index again instead of using cached copies */
  search(text: string, refresh?: boolean): Promise<SearchOutcome>;
  close(): Promise<void>;
}
