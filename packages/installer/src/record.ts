import type { EventRowLike, InstallationRowLike, PackRowLike } from "./serialize";

export type FileManifest = Record<string, { size: number; sha256: string }>;

/** Pack columns written by an install (ids and timestamps are the database's). */
export type PackData = Omit<PackRowLike, "id" | "createdAt" | "updatedAt">;

/** PackInstallation columns written by an install; `packId` is filled in the transaction. */
export type InstallationData = Omit<
  InstallationRowLike,
  "id" | "packId" | "installedAt" | "createdAt" | "updatedAt"
>;

export type EventData = Omit<EventRowLike, "id" | "createdAt" | "details"> & {
  details: Record<string, unknown>;
};

/**
 * Everything one install writes in its single transaction. It is also stored in the intent journal
 * (without the per-file manifest, which reconcile recomputes from the files) so that a crash
 * between the storage move and the commit can be rolled forward exactly as planned.
 */
export interface PlannedRecord {
  /** unique per operation, stored in installation meta: tells reconcile whether the commit happened */
  operationId: string;
  pack: PackData;
  installation: InstallationData;
  event: EventData;
}

/** A record as listed: the installation without its per-file manifest (only verify reads that). */
export interface ListedRecord {
  pack: PackRowLike;
  installation: InstallationRowLike | null;
}

/**
 * A record read by ref. The per-file manifest (20,000 entries for a large pack) is not part of it:
 * `RecordStore.fileManifest` reads it on demand, when verify must name what differs.
 */
export interface InstalledRecord extends ListedRecord {
  /** whether a per-file manifest is stored for the installation */
  hasFileManifest: boolean;
}
