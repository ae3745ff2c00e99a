import type {
  Dependent,
  DependencyProblem,
  EventJson,
  InstallationJson,
  PackJson,
  SourceType,
  InstallationMethod,
} from "./types";

// Structural row shapes (docs/CONTRACTS.md, @attune/db): the serialisers accept anything with these
// fields so that they stay usable with rows from either Prisma client.
export interface PackRowLike {
  id: number;
  ref: string;
  label: string;
  description: string | null;
  version: string;
  tags: string[];
  confSchema: unknown;
  meta: Record<string, unknown>;
  runtimeDeps: string[];
  dependencies: string[];
  createdAt: Date;
  updatedAt: Date;
}

export interface InstallationRowLike {
  id: number;
  packId: number;
  sourceType: string;
  sourceUrl: string | null;
  sourceRef: string | null;
  resolvedCommit: string | null;
  checksum: string;
  checksumVerified: boolean;
  installedAt: Date;
  installedBy: number | null;
  installationMethod: string;
  storagePath: string;
  meta: Record<string, unknown>;
  createdAt: Date;
  updatedAt: Date;
}

export interface EventRowLike {
  id: number;
  packRef: string;
  version: string | null;
  action: string;
  outcome: string;
  sourceType: string | null;
  sourceUrl: string | null;
  actorId: number | null;
  actorName: string | null;
  method: string | null;
  error: string | null;
  details: Record<string, unknown> | null;
  createdAt: Date;
}

const iso = (d: Date | string): string => (d instanceof Date ? d.toISOString() : new Date(d).toISOString());

/** Pack row -> the snake_case JSON both apps emit. Field order is part of the contract (stable output). */
export function toPackJson(row: PackRowLike): PackJson {
  return {
    id: row.id,
    ref: row.ref,
    label: row.label,
    description: row.description ?? null,
    version: row.version,
    tags: [...(row.tags ?? [])],
    conf_schema: row.confSchema ?? null,
    meta: { ...(row.meta ?? {}) },
    runtime_deps: [...(row.runtimeDeps ?? [])],
    dependencies: [...(row.dependencies ?? [])],
    created: iso(row.createdAt),
    updated: iso(row.updatedAt),
  };
}

export function toInstallationJson(row: InstallationRowLike): InstallationJson {
  return {
    id: row.id,
    pack_id: row.packId,
    source_type: row.sourceType as SourceType,
    source_url: row.sourceUrl ?? null,
    source_ref: row.sourceRef ?? null,
    resolved_commit: row.resolvedCommit ?? null,
    checksum: row.checksum,
    checksum_verified: Boolean(row.checksumVerified),
    installed_at: iso(row.installedAt),
    installed_by: row.installedBy ?? null,
    installation_method: row.installationMethod as InstallationMethod,
    storage_path: row.storagePath,
    meta: { ...(row.meta ?? {}) },
    created: iso(row.createdAt),
    updated: iso(row.updatedAt),
  };
}

export function toEventJson(row: EventRowLike): EventJson {
  return {
    id: row.id,
    pack_ref: row.packRef,
    version: row.version ?? null,
    action: row.action,
    outcome: row.outcome,
    source_type: row.sourceType ?? null,
    source_url: row.sourceUrl ?? null,
    actor_id: row.actorId ?? null,
    actor_name: row.actorName ?? null,
    method: row.method ?? null,
    error: row.error ?? null,
    details: { ...(row.details ?? {}) },
    created: iso(row.createdAt),
  };
}

/** What an install or uninstall with skipDeps let through, as both apps emit it (snake_case). */
export interface DependencyWarningsJson {
  unmet_dependencies?: DependencyProblem[];
  broken_dependents?: Dependent[];
}

/**
 * An install's or uninstall's `unmetDependencies` / `brokenDependents` -> `unmet_dependencies` /
 * `broken_dependents`, each only when not empty (a result without skipDeps adds nothing).
 */
export function toDependencyWarningsJson(r: {
  unmetDependencies?: DependencyProblem[];
  brokenDependents?: Dependent[];
}): DependencyWarningsJson {
  return {
    ...(r.unmetDependencies?.length ? { unmet_dependencies: r.unmetDependencies } : {}),
    ...(r.brokenDependents?.length ? { broken_dependents: r.brokenDependents } : {}),
  };
}
