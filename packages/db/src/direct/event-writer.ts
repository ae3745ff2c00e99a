import Database from "better-sqlite3";
import { loadPg } from "../drivers";
import { guard } from "../errors";
import { eventColumns, toEventRow, type EventColumns } from "../repos/events";
import type { InstallEventInput, InstallEventRow } from "../types";
import { providerOf, sqliteFilePath, SQLITE_BUSY_TIMEOUT_MS } from "../url";
import {
  postgresDate,
  postgresTimestamp,
  postgresTypes,
  sqliteDate,
  sqliteTimestamp,
  type DateOf,
} from "./values";

/**
 * Appends history events with one INSERT straight on the driver. A command that writes nothing but
 * its event (`pack verify`) then never starts Prisma (~0.15 s of a CLI run). Validation, encoding
 * and the returned row are `InstallEventRepository.append`'s own (the tests compare the two on both
 * providers); writes that span several rows stay in Prisma transactions.
 */
export interface EventWriter {
  append(input: InstallEventInput): Promise<InstallEventRow>;
  close(): Promise<void>;
}

const INSERT_COLUMNS = `pack_ref, version, action, outcome, source_type, source_url, actor_id, actor_name, method, error, details, created`;
const RETURNING = `RETURNING id, pack_ref, version, action, outcome, source_type, source_url, actor_id, actor_name, method, error, details, created`;

function values(c: EventColumns, created: string): unknown[] {
  return [
    c.packRef,
    c.version,
    c.action,
    c.outcome,
    c.sourceType,
    c.sourceUrl,
    c.actorId,
    c.actorName,
    c.method,
    c.error,
    c.details,
    created,
  ];
}

function toRow(r: Record<string, unknown>, date: DateOf): InstallEventRow {
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

function sqliteWriter(url: string): EventWriter {
  let db: Database.Database | null = null;
  let insert: Database.Statement | null = null;
  return {
    append: async (input) => {
      const c = eventColumns(input);
      return guard(`record ${c.action} event of ${c.packRef}`, async () => {
        if (!insert) {
          db = new Database(sqliteFilePath(url), { fileMustExist: true, timeout: SQLITE_BUSY_TIMEOUT_MS });
          db.pragma("foreign_keys = ON");
          insert = db.prepare(
            `INSERT INTO install_event (${INSERT_COLUMNS}) VALUES (${Array(12).fill("?").join(", ")}) ${RETURNING}`,
          );
        }
        const row = insert.get(...values(c, sqliteTimestamp(new Date()))) as Record<string, unknown>;
        return toRow(row, sqliteDate);
      });
    },
    close: async () => void db?.close(),
  };
}

function postgresWriter(url: string): EventWriter {
  const pool = new (loadPg().Pool)({ connectionString: url, max: 1, types: postgresTypes });
  pool.on("error", () => undefined);
  const params = Array.from({ length: 11 }, (_, i) => `$${i + 1}`).join(", ");
  return {
    append: async (input) => {
      const c = eventColumns(input);
      return guard(`record ${c.action} event of ${c.packRef}`, async () => {
        const { rows } = await pool.query({
          name: "attune_append_event",
          text: `INSERT INTO install_event (${INSERT_COLUMNS}) VALUES (${params}, $12::timestamp(3)) ${RETURNING}`,
          values: values(c, postgresTimestamp(new Date())),
        });
        return toRow(rows[0] as Record<string, unknown>, postgresDate);
      });
    },
    close: () => pool.end(),
  };
}

/** An event writer for the database at `url` (already migrated); connects on first append. */
export function openEventWriter(url: string): EventWriter {
  return providerOf(url) === "postgresql" ? postgresWriter(url) : sqliteWriter(url);
}
