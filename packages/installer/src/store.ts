import type { Db } from "@attune/db";
import type { EventRowLike } from "./serialize";
import type { EventData, FileManifest, InstalledRecord, ListedRecord, PlannedRecord } from "./record";
import type { SourceType } from "./types";

/**
 * The installer's view of the database: exactly the reads and the transactional writes the
 * flows need. Implemented over `@attune/db` repositories in db-store.ts.
 */
export interface RecordStore {
  readonly provider: "sqlite" | "postgresql";
  readonly url: string;
  /**
   * The Prisma client, started on first use: reads and single-event appends go straight to the
   * driver, so commands that write nothing else (list, show, verify) never load Prisma.
   */
  database(): Promise<Db>;
  get(ref: string): Promise<InstalledRecord | null>;
  /** the per-file manifest recorded for the pack's installation (null when none is stored) */
  fileManifest(rec: InstalledRecord): Promise<FileManifest | null>;
  /** ONE transaction: upsert Pack, upsert PackInstallation, append the event */
  commitInstall(planned: PlannedRecord, fileManifest: FileManifest | null): Promise<InstalledRecord>;
  /** ONE transaction: delete the Pack (its installation cascades), append the event; false if absent */
  deletePack(ref: string, event: EventData): Promise<boolean>;
  appendEvent(event: EventData): Promise<void>;
  /** the whole history of a ref, oldest first */
  events(ref: string): Promise<EventRowLike[]>;
  /**
   * One page of a ref's history counted from the newest (page 1: the newest `pageSize` events),
   * its events oldest first; `total`: every event of the ref. One statement, paged in SQL.
   */
  eventPage(
    ref: string,
    filter: { page: number; pageSize: number },
  ): Promise<{ items: EventRowLike[]; total: number }>;
  list(filter: {
    sourceType?: SourceType;
    page: number;
    pageSize: number;
  }): Promise<{ items: ListedRecord[]; total: number }>;
  /** changes whenever the listed data may have changed; null when the store cannot tell */
  listVersion(): Promise<string | null>;
  /** rejects when the database cannot answer a trivial query (readiness checks) */
  ping(): Promise<void>;
  /** every recorded pack, without per-file manifests (reconcile, verifyAll) */
  all(): Promise<ListedRecord[]>;
  close(): Promise<void>;
}
