import { toEventRow } from "../repos/events";
import { toInstallationRow } from "../repos/installations";
import { toPackRow } from "../repos/packs";
import type { InstallEventRow, PackInstallationRow, PackRow } from "../types";
import type { DateOf } from "./values";

/** A row as the driver returns it. */
export type Raw = Record<string, unknown>;

/** An installation as listed: every column but the per-file manifest, which only verify reads. */
export type ListedInstallation = Omit<PackInstallationRow, "fileManifest">;

// Both providers' tables and columns have the same names (@map in the model source).
const PACK = [
  "id",
  "ref",
  "label",
  "description",
  "version",
  "tags",
  "conf_schema",
  "meta",
  "runtime_deps",
  "dependencies",
  "created",
  "updated",
];
const INSTALLATION = [
  "id",
  "pack_id",
  "source_type",
  "source_url",
  "source_ref",
  "resolved_commit",
  "checksum",
  "checksum_verified",
  "installed_at",
  "installed_by",
  "installation_method",
  "storage_path",
  "meta",
  "created",
  "updated",
];
const select = (names: string[], table: string, alias: string) =>
  names.map((n) => `${table ? `${table}.` : ""}${n} AS ${alias}${n}`).join(", ");

/** `t.id AS p_id, …`: the pack columns read by `packOf`, from table alias `table` ("" = unqualified). */
export const packColumns = (table: string, alias: string) => select(PACK, table, alias);
/** The installation columns read by `installationOf` (not the manifest). */
export const installationColumns = (table: string, alias: string) => select(INSTALLATION, table, alias);

/** A pack row from columns selected by `packColumns(…, "p_")`. */
export function packOf(r: Raw, date: DateOf): PackRow {
  return toPackRow({
    id: Number(r.p_id),
    ref: r.p_ref as string,
    label: r.p_label as string,
    description: r.p_description as string | null,
    version: r.p_version as string,
    tags: r.p_tags as string,
    confSchema: r.p_conf_schema as string | null,
    meta: r.p_meta as string,
    runtimeDeps: r.p_runtime_deps as string,
    dependencies: r.p_dependencies as string,
    createdAt: date(r.p_created),
    updatedAt: date(r.p_updated),
  });
}

/** An installation row from columns selected by `installationColumns(…, "i_")`. */
export function installationOf(r: Raw, date: DateOf): ListedInstallation {
  const { fileManifest: _unread, ...installation } = toInstallationRow({
    id: Number(r.i_id),
    packId: Number(r.i_pack_id),
    sourceType: r.i_source_type as string,
    sourceUrl: r.i_source_url as string | null,
    sourceRef: r.i_source_ref as string | null,
    resolvedCommit: r.i_resolved_commit as string | null,
    checksum: r.i_checksum as string,
    checksumVerified: Boolean(r.i_checksum_verified),
    installedAt: date(r.i_installed_at),
    installedBy: r.i_installed_by === null ? null : Number(r.i_installed_by),
    installationMethod: r.i_installation_method as string,
    storagePath: r.i_storage_path as string,
    meta: r.i_meta as string,
    fileManifest: null,
    createdAt: date(r.i_created),
    updatedAt: date(r.i_updated),
  });
  return installation;
}

/** The event columns read by `eventOf` (unprefixed). */
export const EVENT_COLUMNS =
  "id, pack_ref, version, action, outcome, source_type, source_url, actor_id, actor_name, method, error, details, created";

/** An event row from `EVENT_COLUMNS`. */
export function eventOf(r: Raw, date: DateOf): InstallEventRow {
  return toEventRow({
    id: Number(r.id),
    packRef: r.pack_ref as string,
    version: r.version as string | null,
    action: r.action as string,
    outcome: r.outcome as string,
    sourceType: r.source_type as string | null,
    sourceUrl: r.source_url as string | null,
    actorId: r.actor_id === null ? null : Number(r.actor_id),
    actorName: r.actor_name as string | null,
    method: r.method as string | null,
    error: r.error as string | null,
    details: r.details as string,
    createdAt: date(r.created),
  });
}
