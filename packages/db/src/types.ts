// Row and input types of the repositories. Enum-like values are listed once here; the CHECK
// constraints (SQLite) and triggers (PostgreSQL) in prisma/*/migrations repeat them.

export const SOURCE_TYPES = ["git", "archive", "local_directory", "local_archive", "registry"] as const;
export type SourceType = (typeof SOURCE_TYPES)[number];

export const INSTALLATION_METHODS = ["api", "cli", "manual"] as const;
export type InstallationMethod = (typeof INSTALLATION_METHODS)[number];

export const EVENT_ACTIONS = ["install", "upgrade", "reinstall", "uninstall", "verify", "failed"] as const;
export type EventAction = (typeof EVENT_ACTIONS)[number];

export const EVENT_OUTCOMES = ["success", "failure", "interrupted"] as const;
export type EventOutcome = (typeof EVENT_OUTCOMES)[number];

export const TOKEN_SCOPES = ["packs:read", "packs:install", "packs:delete"] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];

export type JsonObject = Record<string, unknown>;
export type FileManifest = Record<string, { size: number; sha256: string }>;

export interface PackRow {
  id: number;
  ref: string;
  label: string;
  description: string | null;
  version: string;
  tags: string[];
  /** the pack's conf_schema, or null when it has none */
  confSchema: unknown;
  meta: JsonObject;
  runtimeDeps: string[];
  dependencies: string[];
  createdAt: Date;
  updatedAt: Date;
}

export interface PackInput {
  ref: string;
  label: string;
  description?: string | null;
  version: string;
  tags?: string[];
  confSchema?: unknown;
  meta?: JsonObject;
  runtimeDeps?: string[];
  dependencies?: string[];
}

export type PackUpdate = Partial<Omit<PackInput, "ref">>;

export interface PackInstallationRow {
  id: number;
  packId: number;
  sourceType: SourceType;
  sourceUrl: string | null;
  sourceRef: string | null;
  resolvedCommit: string | null;
  checksum: string;
  checksumVerified: boolean;
  installedAt: Date;
  installedBy: number | null;
  installationMethod: InstallationMethod;
  storagePath: string;
  meta: JsonObject;
  fileManifest: FileManifest | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface PackInstallationInput {
  packId: number;
  sourceType: SourceType;
  sourceUrl?: string | null;
  sourceRef?: string | null;
  resolvedCommit?: string | null;
  checksum: string;
  checksumVerified?: boolean;
  /** defaults to now */
  installedAt?: Date;
  installedBy?: number | null;
  installationMethod: InstallationMethod;
  storagePath: string;
  meta?: JsonObject;
  fileManifest?: FileManifest | null;
}

export interface IdentityRow {
  id: number;
  name: string;
  createdAt: Date;
  updatedAt: Date;
}

/** A token as listed: never its secret nor its hash. */
export interface TokenRow {
  id: number;
  name: string;
  /** the first characters of the secret, to recognise it */
  prefix: string;
  scopes: TokenScope[];
  identityId: number;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  createdAt: Date;
}

export interface TokenInput {
  name: string;
  /** defaults to every scope */
  scopes?: TokenScope[];
  /** defaults to the identity named like the token (created if missing) */
  identityId?: number;
  expiresAt?: Date | null;
}

export interface InstallEventRow {
  id: number;
  packRef: string;
  version: string | null;
  action: EventAction;
  outcome: EventOutcome;
  sourceType: SourceType | null;
  sourceUrl: string | null;
  actorId: number | null;
  actorName: string | null;
  method: InstallationMethod | null;
  error: string | null;
  details: JsonObject;
  createdAt: Date;
}

export interface InstallEventInput {
  packRef: string;
  version?: string | null;
  action: EventAction;
  outcome: EventOutcome;
  sourceType?: SourceType | null;
  sourceUrl?: string | null;
  actorId?: number | null;
  actorName?: string | null;
  method?: InstallationMethod | null;
  error?: string | null;
  details?: JsonObject;
}

export interface PageRequest {
  /** 1-based, default 1 */
  page?: number;
  /** default 50, at most 500 */
  pageSize?: number;
}

export interface Page<T> {
  items: T[];
  page: number;
  pageSize: number;
  totalItems: number;
  totalPages: number;
}
