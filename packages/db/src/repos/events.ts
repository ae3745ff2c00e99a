import type { DbTx } from "../client";
import { guard } from "../errors";
import { decodeJson, encodeJson } from "../json";
import type {
  EventAction,
  EventOutcome,
  InstallationMethod,
  InstallEventInput,
  InstallEventRow,
  Page,
  PageRequest,
  SourceType,
} from "../types";
import { EVENT_ACTIONS, EVENT_OUTCOMES, INSTALLATION_METHODS, SOURCE_TYPES } from "../types";
import * as v from "../validate";

type EventRecord = Awaited<ReturnType<DbTx["installEvent"]["create"]>>;
/** The columns of one event, validated and encoded (shared with the direct writer). */
export type EventColumns = ReturnType<typeof eventColumns>;

export function toEventRow(r: EventRecord): InstallEventRow {
  return {
    id: r.id,
    packRef: r.packRef,
    version: r.version,
    action: r.action as EventAction,
    outcome: r.outcome as EventOutcome,
    sourceType: r.sourceType as SourceType | null,
    sourceUrl: r.sourceUrl,
    actorId: r.actorId,
    actorName: r.actorName,
    method: r.method as InstallationMethod | null,
    error: r.error,
    details: decodeJson(r.details, {}),
    createdAt: r.createdAt,
  };
}

export function eventColumns(input: InstallEventInput) {
  return {
    packRef: v.nonEmpty(input.packRef, "pack_ref"),
    version: input.version ?? null,
    action: v.oneOf(input.action, EVENT_ACTIONS, "action"),
    outcome: v.oneOf(input.outcome, EVENT_OUTCOMES, "outcome"),
    sourceType: v.optionalOneOf(input.sourceType, SOURCE_TYPES, "source_type"),
    sourceUrl: input.sourceUrl ?? null,
    actorId: input.actorId ?? null,
    actorName: input.actorName ?? null,
    method: v.optionalOneOf(input.method, INSTALLATION_METHODS, "method"),
    error: input.error ?? null,
    details: encodeJson(v.plainObject(input.details, "details"), "details"),
  };
}

/** Append-only history: there is deliberately no update or delete. */
export class InstallEventRepository {
  constructor(private readonly db: DbTx) {}

  async append(input: InstallEventInput): Promise<InstallEventRow> {
    const data = eventColumns(input);
    return toEventRow(
      await guard(`record ${data.action} event of ${data.packRef}`, () =>
        this.db.installEvent.create({ data }),
      ),
    );
  }

  /** The history of a ref, newest first (ties broken by id, so the order is stable). */
  async listByRef(ref: string, opts: { limit?: number } = {}): Promise<InstallEventRow[]> {
    const rows = await guard(`list events of ${ref}`, () =>
      this.db.installEvent.findMany({
        where: { packRef: ref },
        orderBy: [{ createdAt: "desc" }, { id: "desc" }],
        take: opts.limit,
      }),
    );
    return rows.map(toEventRow);
  }

  /**
   * One page of a ref's history in the order of `listByRef` (newest first): page 1 holds the newest
   * `pageSize` events. `totalItems` counts every event of the ref (0: the ref has none).
   */
  async pageByRef(ref: string, filter: PageRequest = {}): Promise<Page<InstallEventRow>> {
    const { page, pageSize, skip } = v.pageOf(filter);
    const where = { packRef: ref };
    const [rows, total] = await guard(`list events of ${ref}`, () =>
      Promise.all([
        this.db.installEvent.findMany({
          where,
          orderBy: [{ createdAt: "desc" }, { id: "desc" }],
          skip,
          take: pageSize,
        }),
        this.db.installEvent.count({ where }),
      ]),
    );
    return v.toPage(rows.map(toEventRow), total, page, pageSize);
  }
}
