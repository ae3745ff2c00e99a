import type { DbTx } from "../client";
import { guard, notFound } from "../errors";
import { decodeJson, encodeJson } from "../json";
import type {
  FileManifest,
  InstallationMethod,
  Page,
  PackInstallationInput,
  PackInstallationRow,
  PackRow,
  SourceType,
} from "../types";
import { INSTALLATION_METHODS, SOURCE_TYPES } from "../types";
import * as v from "../validate";
import { toPackRow, type PackFilter } from "./packs";

type InstallationRecord = Awaited<ReturnType<DbTx["packInstallation"]["create"]>>;

export function toInstallationRow(r: InstallationRecord): PackInstallationRow {
  return {
    id: r.id,
    packId: r.packId,
    sourceType: r.sourceType as SourceType,
    sourceUrl: r.sourceUrl,
    sourceRef: r.sourceRef,
    resolvedCommit: r.resolvedCommit,
    checksum: r.checksum,
    checksumVerified: r.checksumVerified,
    installedAt: r.installedAt,
    installedBy: r.installedBy,
    installationMethod: r.installationMethod as InstallationMethod,
    storagePath: r.storagePath,
    meta: decodeJson(r.meta, {}),
    fileManifest: decodeJson<FileManifest | null>(r.fileManifest, null),
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}

function manifest(value: FileManifest | null | undefined): string | null {
  return value === undefined || value === null
    ? null
    : encodeJson(v.plainObject(value, "file_manifest"), "file_manifest");
}

/** The validated, encoded column values of an installation (every column: create and replace alike). */
export function installationColumnValues(input: PackInstallationInput) {
  return {
    packId: v.id(input.packId, "pack_id"),
    sourceType: v.oneOf(input.sourceType, SOURCE_TYPES, "source_type"),
    sourceUrl: input.sourceUrl ?? null,
    sourceRef: input.sourceRef ?? null,
    resolvedCommit: input.resolvedCommit ?? null,
    checksum: v.checksum(input.checksum),
    checksumVerified: input.checksumVerified ?? false,
    installedAt: input.installedAt ?? new Date(),
    installedBy: input.installedBy ?? null,
    installationMethod: v.oneOf(input.installationMethod, INSTALLATION_METHODS, "installation_method"),
    storagePath: v.nonEmpty(input.storagePath, "storage_path"),
    meta: encodeJson(v.plainObject(input.meta, "meta"), "meta"),
    fileManifest: manifest(input.fileManifest),
  };
}

export class PackInstallationRepository {
  constructor(private readonly db: DbTx) {}

  /** ECONFLICT when the pack already has an installation (one per pack). */
  async create(input: PackInstallationInput): Promise<PackInstallationRow> {
    const data = installationColumnValues(input);
    return toInstallationRow(
      await guard(`record installation of pack ${data.packId}`, () =>
        this.db.packInstallation.create({ data }),
      ),
    );
  }

  /** Create the pack's installation, or replace every field of the existing one. */
  async upsert(input: PackInstallationInput): Promise<{ row: PackInstallationRow; created: boolean }> {
    const data = installationColumnValues(input);
    const existing = await this.findByPackId(data.packId);
    if (!existing) return { row: await this.create(input), created: true };
    const r = await guard(`replace installation of pack ${data.packId}`, () =>
      this.db.packInstallation.update({ where: { id: existing.id }, data }),
    );
    return { row: toInstallationRow(r), created: false };
  }

  async getById(id: number): Promise<PackInstallationRow> {
    const r = await guard("get installation", () =>
      this.db.packInstallation.findUnique({ where: { id: v.id(id) } }),
    );
    if (!r) throw notFound("installation", id);
    return toInstallationRow(r);
  }

  async findByPackId(packId: number): Promise<PackInstallationRow | null> {
    const r = await guard("get installation", () =>
      this.db.packInstallation.findUnique({ where: { packId: v.id(packId, "pack_id") } }),
    );
    return r ? toInstallationRow(r) : null;
  }

  async getByPackId(packId: number): Promise<PackInstallationRow> {
    const row = await this.findByPackId(packId);
    if (!row) throw notFound("installation of pack", packId);
    return row;
  }

  async findByRef(ref: string): Promise<PackInstallationRow | null> {
    const r = await guard(`get installation of ${ref}`, () =>
      this.db.packInstallation.findFirst({ where: { pack: { is: { ref } } } }),
    );
    return r ? toInstallationRow(r) : null;
  }

  async getByRef(ref: string): Promise<PackInstallationRow> {
    const row = await this.findByRef(ref);
    if (!row) throw notFound("installation of pack", ref);
    return row;
  }

  async exists(packId: number): Promise<boolean> {
    const n = await guard("find installation", () =>
      this.db.packInstallation.count({ where: { packId: v.id(packId, "pack_id") } }),
    );
    return n > 0;
  }

  /** Installed packs with their installation, ordered by pack ref (stable pages). */
  async list(filter: PackFilter = {}): Promise<Page<{ pack: PackRow; installation: PackInstallationRow }>> {
    const { page, pageSize, skip } = v.pageOf(filter);
    const where =
      filter.sourceType === undefined
        ? {}
        : { sourceType: v.oneOf(filter.sourceType, SOURCE_TYPES, "source_type") };
    const [rows, total] = await guard("list installations", () =>
      Promise.all([
        this.db.packInstallation.findMany({
          where,
          include: { pack: true },
          orderBy: [{ pack: { ref: "asc" } }],
          skip,
          take: pageSize,
        }),
        this.db.packInstallation.count({ where }),
      ]),
    );
    const items = rows.map((r) => ({ pack: toPackRow(r.pack), installation: toInstallationRow(r) }));
    return v.toPage(items, total, page, pageSize);
  }

  /** Record a (re)computed checksum; `fileManifest` replaces the stored one when given. */
  async updateChecksum(
    id: number,
    update: { checksum: string; verified: boolean; fileManifest?: FileManifest | null },
  ): Promise<PackInstallationRow> {
    const data: { checksum: string; checksumVerified: boolean; fileManifest?: string | null } = {
      checksum: v.checksum(update.checksum),
      checksumVerified: update.verified === true,
    };
    if (update.fileManifest !== undefined) data.fileManifest = manifest(update.fileManifest);
    return toInstallationRow(
      await guard(`update checksum of installation ${id}`, () =>
        this.db.packInstallation.update({ where: { id: v.id(id) }, data }),
      ),
    );
  }

  /** Merge `meta` into the stored meta (or replace it with `{ replace: true }`). */
  async updateMetadata(
    id: number,
    meta: Record<string, unknown>,
    opts: { replace?: boolean } = {},
  ): Promise<PackInstallationRow> {
    const patch = v.plainObject(meta, "meta");
    const next = opts.replace ? patch : { ...(await this.getById(id)).meta, ...patch };
    return toInstallationRow(
      await guard(`update metadata of installation ${id}`, () =>
        this.db.packInstallation.update({
          where: { id: v.id(id) },
          data: { meta: encodeJson(next, "meta") },
        }),
      ),
    );
  }

  async delete(id: number): Promise<PackInstallationRow> {
    return toInstallationRow(
      await guard(`delete installation ${id}`, () =>
        this.db.packInstallation.delete({ where: { id: v.id(id) } }),
      ),
    );
  }
}
