import type pg from "pg";
import { loadPg } from "../drivers";

/** Converts a DateTime column as the driver returns it. */
export type DateOf = (value: unknown) => Date;

// Prisma stores a DateTime as ISO-8601 text with an explicit offset on SQLite
// ("2026-11-26T04:07:51.685+00:00") and as UTC in a zone-less `timestamp(3)` on PostgreSQL. The
// direct paths read and write exactly those forms, so rows written by either path sort and read
// back identically (the tests compare both paths on both providers, in two time zones).

/** SQLite: ISO-8601 text. */
export const sqliteDate: DateOf = (value) => new Date(value as string);
/** SQLite: the text Prisma writes for `date`. */
export const sqliteTimestamp = (date: Date): string => date.toISOString().replace(/Z$/, "+00:00");

/** PostgreSQL: UTC in `timestamp(3)` (no zone); pg would read it as local time. */
export const postgresDate: DateOf = (value) => new Date(`${(value as string).replace(" ", "T")}Z`);
/** PostgreSQL: a zone-less UTC literal for a `$n::timestamp(3)` parameter. */
export const postgresTimestamp = (date: Date): string => date.toISOString().replace(/Z$/, "");

const TIMESTAMP_OID = 1114;
/** pg type parsers that leave `timestamp` as text, for `postgresDate`. */
export const postgresTypes = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === TIMESTAMP_OID
      ? (s: string) => s
      : loadPg().types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};
