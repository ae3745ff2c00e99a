import type { Logger } from "pino";

/**
 * The ports the API needs. They are structural subsets of `@attune/installer`'s `Installer`
 * and `@attune/db`'s token repository (docs/CONTRACTS.md), so the HTTP layer can be wired to the
 * real services by `main.ts` while staying independent of their construction.
 */
export type SourceType = "git" | "archive" | "local_directory" | "local_archive" | "registry";

export interface InstallRequest {
  source: string;
  refSpec?: string;
  force?: boolean;
  checksum?: string;
  skipDeps?: boolean;
  skipTests?: boolean;
  registry?: string;
  refresh?: boolean;
  method: "api" | "cli" | "manual";
}

export interface Actor {
  identityId: number | null;
  name: string | null;
  /** the API token that acted (tokens of one name share an identity) */
  tokenId?: number | null;
}

// Any JSON object the installer serialises (its interfaces have no index signature).
export type Json = object;

export interface VerifyReport {
  ref: string;
  version: string | null;
  ok: boolean;
  expected: string | null;
  actual: string | null;
  changed: string[];
  added: string[];
  removed: string[];
  /** why the tree could not be hashed at all (a planted symbolic link, a special file) */
  error?: string;
  /** why the verify event could not be written (the result stands) */
  historyError?: string;
}

export interface RegistrySummary {
  name: string;
  url: string;
  priority: number;
  enabled: boolean;
  headers?: Record<string, string>;
}

/** What an install or uninstall with skipDeps let through (the installer's result fields). */
export interface DependencyWarnings {
  /** the installed pack's dependencies that are not installed at a version in their range */
  unmetDependencies?: Array<{ ref: string; range: string; installed: string | null }>;
  /** installed packs whose range for the changed (or removed) pack is no longer met */
  brokenDependents?: Array<{ ref: string; version: string; range: string }>;
}

export interface InstallerPort {
  install(
    req: InstallRequest,
    actor: Actor,
    opts?: { signal?: AbortSignal },
  ): Promise<{ pack: Json; installation: Json; created: boolean } & DependencyWarnings>;
  uninstall(
    ref: string,
    opts: { version?: string; skipDeps?: boolean; actor: Actor; method?: "api" | "cli" | "manual" },
  ): Promise<{ ref: string; removed: string[] } & DependencyWarnings>;
  verify(ref: string, actor?: Actor, method?: "api"): Promise<VerifyReport>;
  list(filter: { sourceType?: SourceType; page?: number; pageSize?: number }): Promise<{
    items: Array<{ pack: Json; installation: Json | null }>;
    page: number;
    pageSize: number;
    totalItems: number;
    totalPages: number;
  }>;
  /**
   * Changes whenever a write may have changed what `list` returns; null when the store cannot tell.
   * While it is unchanged the API answers a repeated list from the body it built before.
   */
  listVersion?(): Promise<string | null>;
  /**
   * Rejects (with a typed error) when requests cannot be served now: the database does not answer,
   * its SQLite file was deleted or replaced, the packs directory is gone. `GET /readyz` calls it.
   */
  ready?(): Promise<void>;
  show(ref: string): Promise<{ pack: Json; installation: Json | null }>;
  history(ref: string): Promise<Json[]>;
  /** one page of the history: page 1 holds the newest `pageSize` events, each page oldest first */
  historyPage(
    ref: string,
    filter: { page?: number; pageSize?: number },
  ): Promise<{ items: Json[]; page: number; pageSize: number; totalItems: number; totalPages: number }>;
  registries: {
    list(): RegistrySummary[];
    /** partial results plus each registry's state: an unreadable registry does not fail a search */
    searchDetailed(
      text: string,
      opts?: { refresh?: boolean },
    ): Promise<{
      results: Array<Json & { registry: string }>;
      registries: Array<{
        registry: string;
        status: "fresh" | "cached" | "stale" | "error";
        fetchedAt: string | null;
        ageSeconds: number | null;
        error?: { code: string; message: string; hint?: string };
      }>;
    }>;
  };
}

/** Who a bearer token belongs to, as the auth middleware sees it. */
export interface Principal {
  tokenId: number | string;
  identityId: number | null;
  name: string | null;
  scopes: string[];
}

/** Resolves a presented bearer secret; null when unknown, revoked or expired. */
export type TokenVerifier = (secret: string) => Promise<Principal | null>;

export const Scopes = {
  read: "packs:read",
  install: "packs:install",
  delete: "packs:delete",
} as const;
export type Scope = (typeof Scopes)[keyof typeof Scopes];

export interface ServerDeps {
  installer: InstallerPort;
  verifyToken: TokenVerifier;
  /** pino logger; default: JSON to stdout at `info`. Tests pass `pino({ level: "silent" })`. */
  logger?: Logger;
  /** max JSON body size in bytes; default 64 KiB */
  bodyLimit?: number;
  /** absolute server directories whose names must not appear in error bodies (home, packs dir, tmp) */
  privatePaths?: string[];
}
