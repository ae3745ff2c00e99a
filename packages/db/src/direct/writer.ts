import Database from "better-sqlite3";
import { AttuneError, ErrorCodes } from "@attune/pack-storage";
import type pg from "pg";
import { guardPoolClients, loadPg } from "../drivers";
import { guard } from "../errors";
import { eventColumns } from "../repos/events";
import { installationColumnValues } from "../repos/installations";
import { newPackValues } from "../repos/packs";
import type { InstallEventInput, InstallEventRow, PackInput, PackInstallationInput, PackRow } from "../types";
import { watchSqliteFile, type SqliteFileWatch } from "../sqlite-file";
import { postgresOptions, providerOf, sqliteFilePath, SQLITE_BUSY_TIMEOUT_MS } from "../url";
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
import {
  postgresDate,
  postgresTimestamp,
  postgresTypes,
  sqliteDate,
  sqliteTimestamp,
  type DateOf,
} from "./values";

/** What an install writes in one transaction: `packs.upsert` + `installations.upsert` + `events.append`. */
export interface InstallCommit {
  pack: PackInput;
  installation: Omit<PackInstallationInput, "packId">;
  event: InstallEventInput;
}

/**
 * The writes of the install flow, each one transaction of single statements straight on the driver:
 * an install commit (pack, installation with its per-file manifest, event), an uninstall (the pack,
 * its installation by cascade, the event) and a lone history event. Through Prisma an install commit
 * of a 20,000-file pack took ~0.25 s (engine start, and ~0.12 s to pass a 2 MB manifest through the
 * query compiler); here ~0.03 s. Validation, encoding and the rows stored and returned are the
 * repositories' own: the tests compare both paths, row for row, on both providers.
 */
export interface DirectWriter {
  appendEvent(input: InstallEventInput): Promise<InstallEventRow>;
  /** upsert the pack by ref, upsert its installation, append the event; all or nothing */
  commitInstall(commit: InstallCommit): Promise<{ pack: PackRow; installation: ListedInstallation }>;
  /** delete the pack by ref (its installation cascades), append the event; false if there was none */
  deletePack(ref: string, event: InstallEventInput): Promise<boolean>;
  close(): Promise<void>;
}

interface Statement {
  sql: string;
  params: unknown[];
}
type Dialect = "sqlite" | "postgresql";

/** Statement text for a dialect: `?` or `$n` placeholders, with PostgreSQL's timestamp casts. */
class Sql {
  readonly params: unknown[] = [];
  constructor(private readonly dialect: Dialect) {}
  value(v: unknown): string {
    this.params.push(this.dialect === "sqlite" && typeof v === "boolean" ? Number(v) : v);
    return this.dialect === "sqlite" ? "?" : `$${this.params.length}`;
  }
  /** The column names of `values` and their placeholders, in the same order. */
  columns(values: Values): { names: string[]; placeholders: string } {
    const names = Object.keys(values);
    return { names, placeholders: names.map((n) => this.value(values[n])).join(", ") };
  }
  time(d: Date): string {
    if (this.dialect === "sqlite") return this.value(sqliteTimestamp(d));
    return `${this.value(postgresTimestamp(d))}::timestamp(3)`;
  }
}

const EVENT_RETURNING = `RETURNING ${EVENT_COLUMNS}`;

/** column name → value, in the models' @map names */
type Values = Record<string, unknown>;

/** `ON CONFLICT … DO UPDATE SET` assignments taking each column from the row that conflicted. */
const fromExcluded = (names: string[]) => names.map((n) => `${n} = excluded.${n}`).join(", ");

function insertEvent(dialect: Dialect, input: InstallEventInput, now: Date): Statement {
  const c = eventColumns(input);
  const q = new Sql(dialect);
  const values: Values = {
    pack_ref: c.packRef,
    version: c.version,
    action: c.action,
    outcome: c.outcome,
    source_type: c.sourceType,
    source_url: c.sourceUrl,
    actor_id: c.actorId,
    actor_name: c.actorName,
    method: c.method,
    error: c.error,
    details: c.details,
  };
  const cols = q.columns(values);
  return {
    sql: `INSERT INTO install_event (${cols.names.join(", ")}, created) VALUES (${cols.placeholders}, ${q.time(now)}) ${EVENT_RETURNING}`,
    params: q.params,
  };
}

/**
 * `packs.upsert`: a new pack gets the given fields (the rest their defaults); an existing one has the
 * given fields replaced and keeps the others and its creation time. Both get `updated` = now.
 */
function upsertPack(dialect: Dialect, input: PackInput, now: Date): Statement {
  const c = newPackValues(input);
  const values: Values = {
    ref: c.ref,
    label: c.label,
    version: c.version,
    ...(c.description !== undefined && { description: c.description }),
    ...(c.tags !== undefined && { tags: c.tags }),
    ...(c.confSchema !== undefined && { conf_schema: c.confSchema }),
    ...(c.meta !== undefined && { meta: c.meta }),
    ...(c.runtimeDeps !== undefined && { runtime_deps: c.runtimeDeps }),
    ...(c.dependencies !== undefined && { dependencies: c.dependencies }),
  };
  // placeholders are taken in text order: SQLite's `?` are positional and never reused
  const q = new Sql(dialect);
  const cols = q.columns(values);
  const created = q.time(now);
  const updated = q.time(now);
  const set = fromExcluded([...cols.names.filter((n) => n !== "ref"), "updated"]);
  return {
    sql:
      `INSERT INTO pack (${cols.names.join(", ")}, created, updated) ` +
      `VALUES (${cols.placeholders}, ${created}, ${updated}) ` +
      `ON CONFLICT (ref) DO UPDATE SET ${set} ` +
      `RETURNING ${packColumns("", "p_")}`,
    params: q.params,
  };
}

/** `installations.upsert` for the pack with `ref`: every column replaced, the creation time kept. */
function upsertInstallation(
  dialect: Dialect,
  ref: string,
  input: Omit<PackInstallationInput, "packId">,
  now: Date,
): Statement {
  // packId is only a placeholder for validation here: the statement finds the id by ref
  const { packId: _byRef, ...c } = installationColumnValues({ ...input, packId: 1 });
  const q = new Sql(dialect);
  const values: Values = {
    source_type: c.sourceType,
    source_url: c.sourceUrl,
    source_ref: c.sourceRef,
    resolved_commit: c.resolvedCommit,
    checksum: c.checksum,
    checksum_verified: c.checksumVerified,
    installed_by: c.installedBy,
    installation_method: c.installationMethod,
    storage_path: c.storagePath,
    meta: c.meta,
    file_manifest: c.fileManifest,
  };
  const packId = `(SELECT id FROM pack WHERE ref = ${q.value(ref)})`;
  const cols = q.columns(values);
  const installedAt = q.time(c.installedAt);
  const created = q.time(now);
  const updated = q.time(now);
  const set = fromExcluded([...cols.names, "installed_at", "updated"]);
  return {
    sql:
      `INSERT INTO pack_installation (pack_id, ${cols.names.join(", ")}, installed_at, created, updated) ` +
      `VALUES (${packId}, ${cols.placeholders}, ${installedAt}, ${created}, ${updated}) ` +
      `ON CONFLICT (pack_id) DO UPDATE SET ${set} ` +
      `RETURNING ${installationColumns("", "i_")}`,
    params: q.params,
  };
}

function deleteByRef(dialect: Dialect, ref: string): Statement {
  const q = new Sql(dialect);
  return { sql: `DELETE FROM pack WHERE ref = ${q.value(ref)} RETURNING id`, params: q.params };
}

/**
 * Runs statements in one transaction and gives each one's first row to `finish`, whose result it
 * returns. With several statements `finish` runs before the commit: if it throws (a row missing
 * or unreadable), nothing is committed, so a caller's "the commit failed" is always true (a lone
 * statement, an event, is its own transaction on PostgreSQL).
 */
type Run = <T>(statements: Statement[], finish: (rows: Array<Raw | undefined>) => T) => Promise<T>;

function writer(dialect: Dialect, run: Run, date: DateOf, close: () => Promise<void>): DirectWriter {
  return {
    appendEvent: async (input) => {
      const statement = insertEvent(dialect, input, new Date());
      return guard(`record ${input.action} event of ${input.packRef}`, async () => {
        return run([statement], ([row]) => eventOf(row!, date));
      });
    },
    commitInstall: async ({ pack, installation, event }) => {
      const now = new Date();
      const statements = [
        upsertPack(dialect, pack, now),
        upsertInstallation(dialect, pack.ref, installation, now),
        insertEvent(dialect, event, now),
      ];
      return guard(`record the installation of ${pack.ref}`, async () => {
        return run(statements, ([p, i]) => ({
          pack: packOf(p!, date),
          installation: installationOf(i!, date),
        }));
      });
    },
    deletePack: async (ref, event) => {
      const statements = [deleteByRef(dialect, ref), insertEvent(dialect, event, new Date())];
      return guard(`delete pack ${ref}`, async () => {
        return run(statements, ([deleted]) => deleted !== undefined);
      });
    },
    close,
  };
}

/** SQLITE_BUSY and friends: another connection holds the write lock. */
const isBusy = (e: unknown) => /^SQLITE_(BUSY|LOCKED)/.test(String((e as { code?: unknown })?.code ?? ""));

function sqliteWriter(url: string): DirectWriter {
  let db: Database.Database | null = null;
  let watch: SqliteFileWatch | null = null;
  let closed = false;
  const open = () => {
    if (closed) throw new AttuneError(ErrorCodes.EDATABASE, "the record writer is closed");
    if (!db) {
      // no busy wait inside SQLite (it would block this thread): waits happen below, between turns
      db = new Database(sqliteFilePath(url), { fileMustExist: true, timeout: 0 });
      db.pragma("foreign_keys = ON"); // the cascade from pack to its installation, and the actor check
      watch = watchSqliteFile(sqliteFilePath(url));
    }
    watch!.check(); // never write to a file that was deleted or replaced: the records would be lost
    return db;
  };
  // The transaction runs synchronously from BEGIN IMMEDIATE to COMMIT, so nothing else in this process
  // can run a statement on this connection in between (an await would let it join the transaction).
  // When another connection holds the write lock, possibly Prisma's in this very process in the
  // middle of its own transaction, waiting inside SQLite would block the event loop that transaction
  // needs to finish: so the wait is here, between event-loop turns, up to the same busy timeout.
  const run: Run = async (statements, finish) => {
    const handle = open();
    const body = handle.transaction(() =>
      finish(statements.map((s) => handle.prepare(s.sql).get(...s.params) as Raw | undefined)),
    );
    const deadline = Date.now() + SQLITE_BUSY_TIMEOUT_MS;
    for (let pause = 1; ; pause = Math.min(pause * 2, 50)) {
      try {
        return body.immediate();
      } catch (e) {
        if (!isBusy(e) || Date.now() >= deadline) throw e;
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  };
  return writer("sqlite", run, sqliteDate, async () => {
    closed = true;
    db?.close();
    db = null;
  });
}

function postgresWriter(url: string): DirectWriter {
  const pool: pg.Pool = guardPoolClients(
    new (loadPg().Pool)({ ...postgresOptions(url), max: 2, types: postgresTypes }),
  );
  const run: Run = async (statements, finish) => {
    if (statements.length === 1) {
      const { rows } = await pool.query(statements[0].sql, statements[0].params);
      return finish([rows[0] as Raw | undefined]);
    }
    const client = await pool.connect();
    // a session the server ends mid-transaction (a restart, a failover, pg_terminate_backend) is
    // noted here, so the broken connection is neither sent ROLLBACK nor handed to the next caller
    // (guardPoolClients keeps the event from crashing the process); the statement in flight fails
    // with that error too, and that failure is what the caller gets
    let broken: Error | undefined;
    const onError = (err: Error) => {
      broken ??= err;
    };
    client.on("error", onError);
    try {
      await client.query("BEGIN");
      const out: Array<Raw | undefined> = [];
      for (const s of statements) out.push((await client.query(s.sql, s.params)).rows[0] as Raw | undefined);
      const result = finish(out);
      await client.query("COMMIT");
      return result;
    } catch (e) {
      // a connection that cannot even roll back is dropped, not handed to the next caller mid-transaction
      if (!broken)
        await client.query("ROLLBACK").catch((err: Error) => {
          broken = err;
        });
      throw e;
    } finally {
      client.removeListener("error", onError);
      client.release(broken);
    }
  };
  return writer("postgresql", run, postgresDate, () => pool.end());
}

/** The direct writer for the database at `url` (already migrated); connects on first use. */
export function openDirectWriter(url: string): DirectWriter {
  return providerOf(url) === "postgresql" ? postgresWriter(url) : sqliteWriter(url);
}
