import { AttuneError, ErrorCodes } from "@attune/pack-storage";
import Database from "better-sqlite3";
import { guardPoolClients, loadPg } from "../drivers";
import { guard } from "../errors";
import type { PackFilter } from "../repos/packs";
import { postgresOptions, providerOf, sqliteFilePath, SQLITE_BUSY_TIMEOUT_MS } from "../url";
import { decodeJson } from "../json";
import { watchSqliteFile } from "../sqlite-file";
import {
  SOURCE_TYPES,
  type FileManifest,
  type InstallEventRow,
  type Page,
  type PackRow,
  type PageRequest,
} from "../types";
import * as v from "../validate";
import {
  eventOf,
  EVENT_COLUMNS,
  installationColumns,
  installationOf,
  packColumns,
  packOf,
  type ListedInstallation,
  type Raw,
} from "./rows";
import { postgresDate, postgresTypes, sqliteDate, type DateOf } from "./values";

export type { ListedInstallation } from "./rows";
export interface ListedPack {
  pack: PackRow;
  installation: ListedInstallation;
}
/** A pack read by ref: its installation (null if it has none) and whether a file manifest is stored. */
export interface FoundPack {
  pack: PackRow;
  installation: ListedInstallation | null;
  hasFileManifest: boolean;
}

/**
 * The read path of `pack list` (`GET /api/v1/packs`): one SQL statement per page, straight on the
 * driver. Through Prisma the same page took two queries at ~1 ms of client-side work each, which
 * capped the API at a few hundred requests per second; here a page costs tens of microseconds on
 * SQLite. It returns exactly what `PackInstallationRepository.list` returns, minus `fileManifest`
 * (the tests compare the two on both providers).
 */
export interface InstallationLister {
  list(filter?: PackFilter): Promise<Page<ListedPack>>;
  /** One pack by ref, as `PackRepository.findByRef` + `PackInstallationRepository.findByPackId` return it, minus the manifest. */
  findByRef(ref: string): Promise<FoundPack | null>;
  /** The per-file manifest recorded for an installation (null when none is stored or the row is gone). */
  fileManifest(installationId: number): Promise<FileManifest | null>;
  /** The history of a ref, newest first: what `InstallEventRepository.listByRef` returns. */
  events(ref: string): Promise<InstallEventRow[]>;
  /**
   * One page of a ref's history, newest first (page 1: the newest `pageSize` events), with the
   * ref's event count: what `InstallEventRepository.pageByRef` returns. One statement per page.
   */
  eventPage(ref: string, filter?: PageRequest): Promise<Page<InstallEventRow>>;
  /**
   * A tag that changes whenever any connection (this process's or another's) has committed a write
   * since it was last read, so a caller may reuse what it built from an earlier list while the tag
   * is unchanged. SQLite: its `data_version`; PostgreSQL: null (cannot tell cheaply, never reuse).
   */
  dataVersion(): Promise<string | null>;
  /**
   * One query on the schema's pack table, for readiness checks: rejects (EDATABASE) when the database (or its schema) cannot answer,
   * including an SQLite file deleted or replaced since this lister opened it.
   */
  ping(): Promise<void>;
  close(): Promise<void>;
}

// Both providers' tables and columns have the same names (@map in the model source). The total is an
// uncorrelated subquery, computed once, in the same statement (so page and total are one consistent
// read) without keeping the page from walking the unique index on pack.ref and stopping at LIMIT
// (a window count(*) OVER () would sort every row first).
const COLUMNS = `${installationColumns("i", "i_")}, ${packColumns("p", "p_")}`;
const FROM = `FROM pack p JOIN pack_installation i ON i.pack_id = p.id`;
const BY_REF = (param: string) =>
  `SELECT ${COLUMNS}, i.file_manifest IS NOT NULL AS has_file_manifest
   FROM pack p LEFT JOIN pack_installation i ON i.pack_id = p.id WHERE p.ref = ${param}`;
const MANIFEST = (param: string) => `SELECT file_manifest FROM pack_installation WHERE id = ${param}`;
// the order of InstallEventRepository.listByRef (ties broken by id)
const EVENTS = (param: string) =>
  `SELECT ${EVENT_COLUMNS} FROM install_event WHERE pack_ref = ${param} ORDER BY created DESC, id DESC`;
// a page of them, with the ref's count in the same statement (the (pack_ref, created) index serves both)
const EVENT_PAGE = (ref: string, ref2: string, limit: string, offset: string) =>
  `SELECT ${EVENT_COLUMNS}, (SELECT count(*) FROM install_event WHERE pack_ref = ${ref}) AS total
   FROM install_event WHERE pack_ref = ${ref2} ORDER BY created DESC, id DESC LIMIT ${limit} OFFSET ${offset}`;
const EVENT_COUNT = (param: string) => `SELECT count(*) AS n FROM install_event WHERE pack_ref = ${param}`;
const total = (where: string) => `(SELECT count(*) FROM pack_installation ${where}) AS total`;
// Prisma orders strings by the database's collation on both providers; so does this.
const ORDER = `ORDER BY p.ref ASC`;

function toListed(r: Raw, date: DateOf): ListedPack {
  return { pack: packOf(r, date), installation: installationOf(r, date) };
}

function toFound(r: Raw | undefined, date: DateOf): FoundPack | null {
  if (r === undefined) return null;
  return {
    pack: packOf(r, date),
    installation: r.i_id === null ? null : installationOf(r, date),
    hasFileManifest: Boolean(r.has_file_manifest),
  };
}

function manifestOf(r: Raw | undefined): FileManifest | null {
  return decodeJson<FileManifest | null>((r?.file_manifest as string | null | undefined) ?? null, null);
}

function request(filter: PackFilter) {
  const { page, pageSize, skip } = v.pageOf(filter);
  const sourceType =
    filter.sourceType === undefined ? undefined : v.oneOf(filter.sourceType, SOURCE_TYPES, "source_type");
  return { page, pageSize, skip, sourceType };
}

/** Readiness: a table of this schema answers (an empty database, not migrated, does not). */
const PING = "SELECT 1 FROM pack LIMIT 1";

/** A page of events; past the last page no row carries the count, which then needs its own query. */
async function eventPage(
  rows: Raw[],
  req: ReturnType<typeof v.pageOf>,
  date: DateOf,
  count: () => Promise<number>,
): Promise<Page<InstallEventRow>> {
  const total = rows.length > 0 ? Number(rows[0].total) : req.skip === 0 ? 0 : await count();
  return v.toPage(
    rows.map((r) => eventOf(r, date)),
    total,
    req.page,
    req.pageSize,
  );
}

/** Rows past the last page carry no window count; the total then needs its own query. */
async function page(
  rows: Raw[],
  req: ReturnType<typeof request>,
  date: DateOf,
  countAll: () => Promise<number>,
): Promise<Page<ListedPack>> {
  const total = rows.length > 0 ? Number(rows[0].total) : req.skip === 0 ? 0 : await countAll();
  return v.toPage(
    rows.map((r) => toListed(r, date)),
    total,
    req.page,
    req.pageSize,
  );
}

function openSqliteStatements(url: string) {
  // A second, read-only connection: WAL readers never block the writer (Prisma's connection) or wait
  // for it, and a read-only handle cannot write by mistake.
  const db = new Database(sqliteFilePath(url), { readonly: true, fileMustExist: true });
  try {
    db.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
    return {
      db,
      watch: watchSqliteFile(sqliteFilePath(url)),
      all: db.prepare(`SELECT ${COLUMNS}, ${total("")} ${FROM} ${ORDER} LIMIT ? OFFSET ?`),
      byType: db.prepare(
        `SELECT ${COLUMNS}, ${total("WHERE source_type = ?")} ${FROM} WHERE i.source_type = ? ${ORDER} LIMIT ? OFFSET ?`,
      ),
      countAll: db.prepare(`SELECT count(*) AS n FROM pack_installation`).pluck(),
      countByType: db.prepare(`SELECT count(*) AS n FROM pack_installation WHERE source_type = ?`).pluck(),
      // this connection never writes, so every commit to the file changes its data_version
      version: db.prepare("PRAGMA data_version").pluck(),
      ping: db.prepare(PING),
      byRef: db.prepare(BY_REF("?")),
      manifest: db.prepare(MANIFEST("?")),
      history: db.prepare(EVENTS("?")),
      historyPage: db.prepare(EVENT_PAGE("?", "?", "?", "?")),
      historyCount: db.prepare(EVENT_COUNT("?")).pluck(),
    };
  } catch (e) {
    db.close();
    throw e;
  }
}

function sqliteLister(url: string): InstallationLister {
  // opened by the first call, inside its guard: a file that cannot be opened (permissions, a schema
  // this build cannot read) is an EDATABASE like any other database failure
  let s: ReturnType<typeof openSqliteStatements> | null = null;
  let closed = false;
  const open = () => {
    if (closed) throw new AttuneError(ErrorCodes.EDATABASE, "the installation reader is closed");
    s ??= openSqliteStatements(url);
    s.watch.check(); // a file deleted or replaced under a long-running process is an error, not stale data
    return s;
  };
  return {
    events: (ref) =>
      guard(`list events of ${ref}`, async () =>
        (open().history.all(ref) as Raw[]).map((r) => eventOf(r, sqliteDate)),
      ),
    eventPage: (ref, filter = {}) =>
      guard(`list events of ${ref}`, async () => {
        const req = v.pageOf(filter);
        const q = open();
        const rows = q.historyPage.all(ref, ref, req.pageSize, req.skip) as Raw[];
        return eventPage(rows, req, sqliteDate, async () => Number(q.historyCount.get(ref)));
      }),
    findByRef: (ref) =>
      guard(`read pack ${ref}`, async () => toFound(open().byRef.get(ref) as Raw | undefined, sqliteDate)),
    fileManifest: (id) =>
      guard(`read the file manifest of installation ${id}`, async () =>
        manifestOf(open().manifest.get(id) as Raw | undefined),
      ),
    dataVersion: () => guard("read the data version", async () => String(open().version.get())),
    ping: () =>
      guard("check the database", async () => {
        open().ping.get();
      }),
    list: (filter = {}) =>
      guard("list installations", async () => {
        const req = request(filter);
        const q = open();
        const rows = (
          req.sourceType === undefined
            ? q.all.all(req.pageSize, req.skip)
            : q.byType.all(req.sourceType, req.sourceType, req.pageSize, req.skip)
        ) as Raw[];
        return page(rows, req, sqliteDate, async () =>
          Number(req.sourceType === undefined ? q.countAll.get() : q.countByType.get(req.sourceType)),
        );
      }),
    close: async () => {
      closed = true;
      s?.db.close();
      s = null;
    },
  };
}

function postgresLister(url: string): InstallationLister {
  // a connection that breaks must not crash the process; the next query reports it
  const pool = guardPoolClients(
    new (loadPg().Pool)({ ...postgresOptions(url), max: 4, types: postgresTypes }),
  );
  const listSql = (where: string, at: number) =>
    `SELECT ${COLUMNS}, ${total(where.replace("i.", ""))} ${FROM} ${where} ${ORDER} LIMIT $${at} OFFSET $${at + 1}`;
  return {
    dataVersion: async () => null,
    ping: () =>
      guard("check the database", async () => {
        await pool.query(PING);
      }),
    events: (ref) =>
      guard(`list events of ${ref}`, async () => {
        const { rows } = await pool.query({
          name: "attune_events_by_ref",
          text: EVENTS("$1"),
          values: [ref],
        });
        return (rows as Raw[]).map((r) => eventOf(r, postgresDate));
      }),
    eventPage: (ref, filter = {}) =>
      guard(`list events of ${ref}`, async () => {
        const req = v.pageOf(filter);
        const { rows } = await pool.query({
          name: "attune_event_page_by_ref",
          text: EVENT_PAGE("$1", "$1", "$2", "$3"),
          values: [ref, req.pageSize, req.skip],
        });
        return eventPage(rows as Raw[], req, postgresDate, async () => {
          const r = await pool.query({
            name: "attune_event_count_by_ref",
            text: EVENT_COUNT("$1"),
            values: [ref],
          });
          return Number(r.rows[0].n);
        });
      }),
    findByRef: (ref) =>
      guard(`read pack ${ref}`, async () => {
        const { rows } = await pool.query({ name: "attune_pack_by_ref", text: BY_REF("$1"), values: [ref] });
        return toFound(rows[0] as Raw | undefined, postgresDate);
      }),
    fileManifest: (id) =>
      guard(`read the file manifest of installation ${id}`, async () => {
        const { rows } = await pool.query({
          name: "attune_file_manifest",
          text: MANIFEST("$1"),
          values: [id],
        });
        return manifestOf(rows[0] as Raw | undefined);
      }),
    list: (filter = {}) =>
      guard("list installations", async () => {
        const req = request(filter);
        const { rows } =
          req.sourceType === undefined
            ? await pool.query({
                name: "attune_list_all",
                text: listSql("", 1),
                values: [req.pageSize, req.skip],
              })
            : await pool.query({
                name: "attune_list_by_type",
                text: listSql("WHERE i.source_type = $1", 2),
                values: [req.sourceType, req.pageSize, req.skip],
              });
        return page(rows as Raw[], req, postgresDate, async () => {
          const r =
            req.sourceType === undefined
              ? await pool.query("SELECT count(*) AS n FROM pack_installation")
              : await pool.query("SELECT count(*) AS n FROM pack_installation WHERE source_type = $1", [
                  req.sourceType,
                ]);
          return Number(r.rows[0].n);
        });
      }),
    close: () => pool.end(),
  };
}

/** A lister over the database at `url` (already migrated: open it after `openDatabase`). */
export function openInstallationLister(url: string): InstallationLister {
  return providerOf(url) === "postgresql" ? postgresLister(url) : sqliteLister(url);
}
