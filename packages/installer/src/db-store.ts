import {
  openDatabase,
  openInstallationLister,
  repositories,
  withTransaction,
  type Db,
  type InstallationLister,
  type Repositories,
} from "@attune/db";
import type { EventData, FileManifest, InstalledRecord, ListedRecord, PlannedRecord } from "./record";
import type { EventRowLike } from "./serialize";
import type { RecordStore } from "./store";
import type { SourceType } from "./types";

// The installer's vocabulary is a superset of the db's only in documentation; cast at this boundary.
type EventInput = Parameters<Repositories["events"]["append"]>[0];
type InstallationInput = Parameters<Repositories["installations"]["upsert"]>[0];

async function readRecord(repos: Repositories, ref: string): Promise<InstalledRecord | null> {
  const pack = await repos.packs.findByRef(ref);
  if (!pack) return null;
  return { pack, installation: await repos.installations.findByPackId(pack.id) };
}

/** RecordStore over `@attune/db`: the SQLite store is created and migrated on open. */
export async function openRecordStore(opts: { home: string; databaseUrl?: string }): Promise<RecordStore> {
  const opened = await openDatabase(opts);
  const db: Db = opened.db;
  const repos = repositories(db);
  // the list's own read connection, opened on first use (most commands never list)
  let lister: InstallationLister | null = null;
  return {
    provider: opened.provider,
    url: opened.url,
    db,
    get: (ref) => readRecord(repos, ref),
    async commitInstall(planned: PlannedRecord, fileManifest: FileManifest | null) {
      return withTransaction(db, async (tx) => {
        const { row: pack } = await tx.packs.upsert(planned.pack);
        const installation: InstallationInput = {
          ...(planned.installation as Omit<InstallationInput, "packId">),
          packId: pack.id,
          installedAt: new Date(),
          fileManifest,
          meta: { ...planned.installation.meta, operation_id: planned.operationId },
        };
        const { row } = await tx.installations.upsert(installation);
        await tx.events.append(planned.event as EventInput);
        return { pack, installation: row };
      });
    },
    async deletePack(ref: string, event: EventData) {
      return withTransaction(db, async (tx) => {
        const pack = await tx.packs.findByRef(ref);
        if (pack) await tx.packs.delete(pack.id);
        await tx.events.append(event as EventInput);
        return pack !== null;
      });
    },
    async appendEvent(event: EventData) {
      await repos.events.append(event as EventInput);
    },
    async events(ref: string): Promise<EventRowLike[]> {
      return (await repos.events.listByRef(ref)).reverse(); // oldest first: a history reads top-down
    },
    async list(filter: { sourceType?: SourceType; page: number; pageSize: number }) {
      const page = await (lister ??= openInstallationLister(opened.url)).list(filter);
      return { items: page.items, total: page.totalItems };
    },
    listVersion: () => (lister ??= openInstallationLister(opened.url)).dataVersion(),
    async all() {
      // the list's read path: every record without its per-file manifest (callers that need one,
      // verify, read the full record by ref)
      const out: ListedRecord[] = [];
      for (let page = 1; ; page++) {
        const p = await (lister ??= openInstallationLister(opened.url)).list({ page, pageSize: 500 });
        out.push(...p.items);
        if (page >= p.totalPages) return out;
      }
    },
    async close() {
      await lister?.close().catch(() => undefined);
      await opened.close();
    },
  };
}
