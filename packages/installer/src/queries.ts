import { AttuneError, ErrorCodes, validateRef } from "@attune/pack-storage";
import type { InstallerContext } from "./context";
import type { ListedRecord } from "./record";
import { toEventJson, toInstallationJson, toPackJson } from "./serialize";
import type { EventJson, ListFilter, ListResult, PackWithInstallation, SourceType } from "./types";

const SOURCE_TYPES = new Set<SourceType>(["git", "archive", "local_directory", "local_archive", "registry"]);
export const MAX_PAGE_SIZE = 500;

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
  const pageSize = positiveInt(filter.pageSize, "page_size", 20, MAX_PAGE_SIZE);
  const { items, total } = await ctx.store.list({
    sourceType: filter.sourceType,
    page,
    pageSize,
  });
  return {
    items: items.map(toJsonPair),
    page,
    pageSize,
    totalItems: total,
    totalPages: Math.ceil(total / pageSize),
  };
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
  if (events.length === 0 && !(await ctx.store.get(ref)))
    // not "not installed": the history outlives an uninstall, so that is not why there is none
    throw new AttuneError(ErrorCodes.ENOTFOUND, `pack '${ref}' has no history: it was never installed here`, {
      hint: "check the ref's spelling; `attune pack list` shows the installed packs",
      details: { ref },
    });
  return events.map(toEventJson);
}

function notFound(ref: string): AttuneError {
  return new AttuneError(ErrorCodes.ENOTFOUND, `pack '${ref}' is not installed`, {
    hint: "list installed packs with `attune pack list`",
    details: { ref },
  });
}
