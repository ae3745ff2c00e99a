/**
 * Output: `-o json|yaml` print only the data on stdout (stable shapes, see docs/cli.md);
 * `-o table` prints aligned, width-aware text. Without `-o`, a TTY gets a table and a pipe
 * gets JSON, so scripts never parse tables by accident.
 */
import { printable } from "./printable";

export type OutputFormat = "table" | "json" | "yaml";
export const OUTPUT_FORMATS: readonly OutputFormat[] = ["table", "json", "yaml"];

/** Whether `value` names an output format. */
export function isOutputFormat(value: unknown): value is OutputFormat {
  return (OUTPUT_FORMATS as readonly unknown[]).includes(value);
}

/** What a command hands back: its data (json/yaml) and how to draw it as text. */
export interface CommandResult {
  data: unknown;
  table: () => string;
  /** set for results that are not failures of the command but must change the exit code (verify) */
  exitCode?: number;
  /** a format that overrides -o (e.g. `pack checksum --json` always prints JSON) */
  format?: OutputFormat;
}

export function pickFormat(explicit: string | undefined, stdoutIsTty: boolean): OutputFormat {
  if (isOutputFormat(explicit)) return explicit;
  return stdoutIsTty ? "table" : "json";
}

export async function formatResult(result: CommandResult, format: OutputFormat): Promise<string> {
  if (format === "json") return JSON.stringify(result.data, null, 2) + "\n";
  if (format === "yaml") {
    const YAML = (await import("yaml")).default;
    return YAML.stringify(result.data, { lineWidth: 0 });
  }
  const text = result.table();
  return text.endsWith("\n") || text === "" ? text : text + "\n";
}

export type Cell = string | number | boolean | null | undefined;

function cellText(c: Cell): string {
  if (c === null || c === undefined || c === "") return "-";
  return printable(String(c));
}

/**
 * Aligned columns. When the table is wider than `width`, the widest columns are shrunk (values end
 * with "…") so each row stays on one line of an 80-column terminal; except the `keep` columns
 * (what a user types next: a ref, a version, an error code), which are never cut: when the others
 * are at their minimum the row is left longer than the terminal instead.
 */
export function table(
  headers: string[],
  rows: Cell[][],
  width = terminalWidth(),
  keep: readonly string[] = [],
): string {
  if (rows.length === 0) return "";
  const text = rows.map((r) => headers.map((_, i) => cellText(r[i])));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => r[i].length)));
  const gap = 2;
  const total = () => widths.reduce((a, b) => a + b, 0) + gap * (widths.length - 1);
  const minimum = (i: number) => (keep.includes(headers[i]) ? widths[i] : Math.max(headers[i].length, 8));
  while (total() > width) {
    // the widest column that can still give room
    let widest = -1;
    for (let i = 0; i < widths.length; i++)
      if (widths[i] > minimum(i) && (widest < 0 || widths[i] > widths[widest])) widest = i;
    if (widest < 0) break;
    widths[widest] = Math.max(minimum(widest), widths[widest] - (total() - width));
  }
  const fit = (s: string, w: number) => (s.length > w ? s.slice(0, w - 1) + "…" : s.padEnd(w));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => fit(c, widths[i]))
      .join(" ".repeat(gap))
      .trimEnd();
  return [line(headers.map((h) => h.toUpperCase())), ...text.map(line)].join("\n") + "\n";
}

/** "key: value" lines, keys aligned. */
export function keyValues(pairs: Array<[string, Cell]>): string {
  const w = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${(k + ":").padEnd(w + 1)} ${cellText(v)}`).join("\n") + "\n";
}

export function terminalWidth(): number {
  const cols = process.stdout.isTTY ? process.stdout.columns : undefined;
  return cols && cols > 40 ? cols : 80;
}

/** A short checksum for tables: "sha256:1234abcd…". Full values are in json/yaml. */
export function shortChecksum(c: string | null | undefined): string {
  if (!c) return "-";
  return c.length > 18 ? c.slice(0, 18) + "…" : c;
}

/** A table cell's time, to the minute in UTC ("2026-11-26 00:58Z"): fits an 80-column row uncut. */
export function minuteDate(iso: string | null | undefined): string {
  if (!iso) return "-";
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(iso);
  return m ? `${m[1]} ${m[2]}Z` : iso;
}

export function shortDate(iso: string | null | undefined): string {
  if (!iso) return "-";
  return iso.replace("T", " ").replace(/\.\d+Z$|Z$/, "Z");
}
