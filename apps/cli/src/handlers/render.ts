/** Table renderings of the pack JSON shapes (json/yaml print the shapes themselves). */
import type { HistoryPage, Json, PackRecord, SearchHit, VerifyReport } from "../backends/types";
import { keyValues, minuteDate, shortChecksum, shortDate, table, type Cell } from "../output";
import { printable, printableName } from "../printable";

const s = (v: unknown): Cell =>
  v === null || v === undefined ? undefined : typeof v === "object" ? JSON.stringify(v) : (v as Cell);

/** A list field of the pack row, comma-separated ("-" when empty, as for other empty fields). */
const list = (v: unknown): Cell =>
  Array.isArray(v) ? (v.length > 0 ? v.map(String).join(", ") : undefined) : s(v);

export function packDetails(r: PackRecord): string {
  const p = r.pack;
  const i = r.installation ?? {};
  const pairs: Array<[string, Cell]> = [
    ["ref", s(p.ref)],
    ["version", s(p.version)],
    ["label", s(p.label)],
    ["description", s(p.description)],
    ["tags", Array.isArray(p.tags) ? p.tags.join(", ") : s(p.tags)],
    ["dependencies", list(p.dependencies)],
    ["runtime deps", list(p.runtime_deps)],
    ["source type", s(i.source_type)],
    ["source url", s(i.source_url)],
    ["source ref", s(i.source_ref)],
    ["resolved commit", s(i.resolved_commit)],
    ["checksum", s(i.checksum)],
    ["checksum verified", s(i.checksum_verified)],
    ["installed at", shortDate(i.installed_at as string)],
    ["installed by", installedBy(i)],
    ["method", s(i.installation_method)],
    ["storage path", s(i.storage_path)],
  ];
  return keyValues(pairs);
}

/** The installed packs; `sourceType`: the list was filtered to that source type. */
export function packTable(rows: PackRecord[], sourceType?: string): string {
  if (rows.length === 0)
    return sourceType ? `No packs installed from a ${sourceType} source.\n` : "No packs installed.\n";
  return table(
    ["ref", "version", "source", "installed", "checksum"],
    rows.map((r) => [
      s(r.pack.ref),
      s(r.pack.version),
      s(r.installation?.source_type),
      minuteDate(r.installation?.installed_at as string),
      shortChecksum(r.installation?.checksum as string),
    ]),
    undefined,
    ["ref", "version"],
  );
}

export function historyTable(events: Json[]): string {
  if (events.length === 0) return "No events.\n";
  return table(
    ["time", "action", "outcome", "version", "by", "source", "error"],
    events.map((e) => [
      minuteDate(e.created as string),
      historyAction(e),
      s(e.outcome),
      s(e.version),
      s(e.actor_name ?? e.actor_id),
      s(e.source_type),
      // the code (the whole message is in -o json/yaml): never cut, it is what to look up
      typeof e.error === "string" ? errorCodeOf(e) : undefined,
    ]),
    undefined,
    // the time too: "2026-11-2…" says nothing (the actor and source shrink instead)
    ["time", "action", "outcome", "version", "error"],
  );
}

/** A page of a history, and where it stands among the pages (page 1 holds the newest events). */
export function historyPageTable(page: HistoryPage): string {
  const p = page.pagination;
  const events = `${p.total_items} event${p.total_items === 1 ? "" : "s"}`;
  const older =
    p.page < p.total_pages ? `; --page ${p.page + 1} --page-size ${p.page_size} for older ones` : "";
  if (p.page > p.total_pages)
    return `${historyTable(page.data)}Page ${p.page} is past the last (${p.total_pages} page${p.total_pages === 1 ? "" : "s"} of ${p.page_size}, ${events}, page 1 the newest)\n`;
  return `${historyTable(page.data)}Page ${p.page} of ${p.total_pages} (${events}, page 1 the newest${older})\n`;
}

/**
 * The code an event's error starts with. Interrupted events recorded before they carried one
 * (`interrupted before the database commit; …`) read as EINTERRUPTED, not as their whole sentence.
 */
function errorCodeOf(e: Json): string {
  const error = String(e.error);
  const code = /^[A-Z][A-Z0-9_]+(?=: )/.exec(error)?.[0];
  if (code) return code;
  return e.outcome === "interrupted" ? "EINTERRUPTED" : error;
}

/** A downgrade is recorded as an upgrade with `details.downgrade` (docs/install-flow.md): say which. */
function historyAction(e: Json): Cell {
  const d = e.details && typeof e.details === "object" ? (e.details as Json) : {};
  return e.action === "upgrade" && d.downgrade === true ? "downgrade" : s(e.action);
}

export function verifyTable(reports: VerifyReport[]): string {
  if (reports.length === 0) return "No packs to verify.\n";
  const lines = [
    table(
      ["ref", "status", "checksum"],
      reports.map((r) => [r.ref, r.ok ? "ok" : "TAMPERED", shortChecksum(r.actual)]),
      undefined,
      ["ref", "status"],
    ).trimEnd(),
  ];
  for (const r of reports.filter((x) => !x.ok)) {
    // no checksum: either the directory is gone, or something in it cannot be hashed (the error says what)
    const gone = r.actual === null && (!r.error || r.error.startsWith("ENOENT: "));
    const found =
      r.actual ??
      (gone ? "(no files: the pack's directory is gone)" : "(cannot be hashed: see the error below)");
    lines.push("", `${r.ref}: expected ${r.expected}`, `${" ".repeat(r.ref.length)}  found    ${found}`);
    // file names are whatever was planted in the pack's directory: never obeyed as escapes
    for (const f of r.changed) lines.push(`  changed  ${printableName(f)}`);
    for (const f of r.added) lines.push(`  added    ${printableName(f)}`);
    for (const f of r.removed) lines.push(`  removed  ${printableName(f)}`);
    if (r.error) lines.push(`  error    ${printable(r.error)}`);
  }
  return lines.join("\n") + "\n";
}

export function searchTable(hits: SearchHit[]): string {
  if (hits.length === 0) return "No packs found.\n";
  return table(
    ["ref", "version", "registry", "description"],
    hits.map((h) => [h.ref, s(h.version), h.registry, s(h.description)]),
    undefined,
    ["ref", "version", "registry"],
  );
}

/** The identity id (API installs) and the actor's name (recorded in meta), as far as known. */
function installedBy(i: Json): Cell {
  const meta = (i.meta && typeof i.meta === "object" ? i.meta : {}) as Json;
  const name = typeof meta.actor_name === "string" ? meta.actor_name : null;
  if (i.installed_by === null || i.installed_by === undefined) return name;
  return name ? `${name} (identity ${String(i.installed_by)})` : `identity ${String(i.installed_by)}`;
}
