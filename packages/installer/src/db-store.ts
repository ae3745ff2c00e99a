import {
  connectDatabase,
  openDirectWriter,
  openInstallationLister,
  prepareDatabase,
  type Db,
  type DirectWriter,
  type InstallationLister,
  type OpenedDatabase,
  type Repositories,
} from "@attune/db";
import type { EventData, FileManifest, InstalledRecord, ListedRecord, PlannedRecord } from "./record";
import type { EventRowLike } from "./serialize";
import type { RecordStore } from "./store";

// The installer's vocabulary is a superset of the db's only in documentation; cast at this boundary.
type EventInput = Parameters<Repositories["events"]["append"]>[0];
type InstallationInput = Parameters<Repositories["installations"]["upsert"]>[0];
type InstallCommit = Parameters<DirectWriter["commitInstall"]>[0];

/**
 * RecordStore over `@attune/db`: the SQLite store is created and migrated on open. The install flow's
 * reads and writes (by ref, lists, the install commit, uninstall, lone events) use the direct driver
 * paths, which store and return exactly what the repositories do; Prisma is started only for
 * callers of `database()` (the API's tokens).
 */
export async function openRecordStore(opts: { home: string; databaseUrl?: string }): Promise<RecordStore> {
  const prepared = await prepareDatabase(opts);
  const { url } = prepared;
  // each opened on first use: most commands need only one or two of them
  let lister: InstallationLister | null = null;
  let writer: DirectWriter | null = null;
  let opened: Promise<OpenedDatabase> | null = null;
  const reader = () => (lister ??= openInstallationLister(url));
  const direct = () => (writer ??= openDirectWriter(url));
  const database = async (): Promise<Db> => {
    opened ??= connectDatabase(prepared).catch((e: unknown) => {
      opened = null; // a failed start is retried by the next call, not remembered
      throw e;
    });
    return (await opened).db;
  };
  return {
    provider: prepared.provider,
    url,
    database,
    get: (ref) => reader().findByRef(ref),
    async fileManifest(rec: InstalledRecord) {
      return rec.installation && rec.hasFileManifest ? reader().fileManifest(rec.installation.id) : null;
    },
    async commitInstall(planned: PlannedRecord, fileManifest: FileManifest | null): Promise<InstalledRecord> {
      const installation: Omit<InstallationInput, "packId"> = {
        ...(planned.installation as Omit<InstallationInput, "packId">),
        installedAt: new Date(),
        fileManifest,
        meta: { ...planned.installation.meta, operation_id: planned.operationId },
      };
      const row = await direct().commitInstall({
        pack: planned.pack as InstallCommit["pack"],
        installation,
        event: planned.event as EventInput,
      });
      return { ...row, hasFileManifest: fileManifest !== null };
    },
    async deletePack(ref: string, event: EventData) {
      return direct().deletePack(ref, event as EventInput);
    },
    async appendEvent(event: EventData) {
      await direct().appendEvent(event as EventInput);
    },
    async events(ref: string): Promise<EventRowLike[]> {
      return (await reader().events(ref)).reverse(); // oldest first: a history reads top-down
    },
    async eventPage(ref, filter) {
      const page = await reader().eventPage(ref, filter); // newest first, as the whole history
      return { items: page.items.reverse(), total: page.totalItems };
    },
    async list(filter) {
      const page = await reader().list(filter);
      return { items: page.items, total: page.totalItems };
    },
    listVersion: () => reader().dataVersion(),
    ping: () => reader().ping(),
    async all() {
      // the list's read path: every record without its per-file manifest (verify reads one by ref)
      const out: ListedRecord[] = [];
      for (let page = 1; ; page++) {
        const p = await reader().list({ page, pageSize: 500 });
        out.push(...p.items);
        if (page >= p.totalPages) return out;
      }
    },
    async close() {
      await lister?.close().catch(() => undefined);
      await writer?.close().catch(() => undefined);
      const db = opened && (await opened.catch(() => null));
      await db?.close();
    },
  };
}
