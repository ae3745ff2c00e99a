import { AttuneError, ErrorCodes, validateRef } from "@attune/pack-storage";
import type { InstallerContext } from "./context";
import type { ListedRecord } from "./record";
import { toEventJson, toInstallationJson, toPackJson } from "./serialize";
import type {
  EventJson,
  HistoryFilter,
  HistoryPage,
  ListFilter,
  ListResult,
  PackWithInstallation,
  SourceType,
} from "./types";

const SOURCE_TYPES = new Set<SourceType>(["git", "archive", "local_directory", "local_archive", "registry"]);
export const MAX_PAGE_SIZE = 500;
/** the page size of a list, and of a history page, when none is asked for */
export const DEFAULT_PAGE_SIZE = 20;

export function toJsonPair(rec: ListedRecord): PackWithInstallation {
  return {
    pack: toPackJson(rec.pack),
    installation: rec.installation ? toInstallationJson(rec.installation) : null,
  };
}

function positiveInt(value: unknown, field: string, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > max)
    throw new AttuneError(ErrorCodes.EINVALID_INPUT, `${field} must be an integer from 1 to ${max}`, {
      details: { field },
    });
  return value;
}

export async function list(ctx: InstallerContext, filter: ListFilter = {}): Promise<ListResult> {
  if (filter.sourceType !== undefined && !SOURCE_TYPES.has(filter.sourceType))
    throw new AttuneError(
      ErrorCodes.EINVALID_INPUT,
      `source_type must be one of ${[...SOURCE_TYPES].join(", ")}`,
      { details: { field: "source_type" } },
    );
  const page = positiveInt(filter.page, "page", 1);
  const pageSize = positiveInt(filter.pageSize, "page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
  const { items, total } = await ctx.store.list({
    sourceType: filter.sourceType,
    page,
    pageSize,
  });
  return pageOf(items.map(toJsonPair), page, pageSize, total);
}

/** One page of a list, with the totals every paged answer carries. */
function pageOf<T>(items: T[], page: number, pageSize: number, totalItems: number) {
  return { items, page, pageSize, totalItems, totalPages: Math.ceil(totalItems / pageSize) };
}

export async function show(ctx: InstallerContext, ref: string): Promise<PackWithInstallation> {
  validateRef(ref);
  const rec = await ctx.store.get(ref);
  if (!rec) throw notFound(ref);
  return toJsonPair(rec);
}

/** oldest first; ENOTFOUND only when the ref was never seen (an uninstalled pack keeps its history) */
export async function history(ctx: InstallerContext, ref: string): Promise<EventJson[]> {
  validateRef(ref);
  const events = await ctx.store.events(ref);
  if (events.length === 0 && !(await ctx.store.get(ref))) throw noHistory(ref);
  return events.map(toEventJson);
}

/**
 * One page of the history, paged in SQL: page 1 holds the newest `pageSize` events (default 20, at
 * most 500), page `totalPages` the oldest; each page reads oldest first, as the whole history does.
 * A page past the last is empty. ENOTFOUND as `history`: only when the ref was never seen.
 */
export async function historyPage(
  ctx: InstallerContext,
  ref: string,
  filter: HistoryFilter = {},
): Promise<HistoryPage> {
  validateRef(ref);
  const page = positiveInt(filter.page, "page", 1);
  const pageSize = positiveInt(filter.pageSize, "page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
  const { items, total } = await ctx.store.eventPage(ref, { page, pageSize });
  if (total === 0 && !(await ctx.store.get(ref))) throw noHistory(ref);
  return pageOf(items.map(toEventJson), page, pageSize, total);
}

function noHistory(ref: string): AttuneError {
  // not "not installed": the history outlives an uninstall, so that is not why there is none
  return new AttuneError(ErrorCodes.ENOTFOUND, `pack '${ref}' has no history: it was never installed here`, {
    hint: "check the ref's spelling; `attune pack list` shows the installed packs",
    details: { ref },
  });
}

function notFound(ref: string): AttuneError {
  return new AttuneError(ErrorCodes.ENOTFOUND, `pack '${ref}' is not installed`, {
    hint: "list installed packs with `attune pack list`",
    details: { ref },
  });
}
