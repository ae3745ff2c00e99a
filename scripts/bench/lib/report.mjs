// Small reporting helpers shared by the product benchmarks and the stress scripts.
import crypto from "node:crypto";
import fs from "node:fs";

/** `sha256:<hex>` of a file's bytes (an archive's checksum in a registry index). */
export function fileChecksum(file) {
  return `sha256:${crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex")}`;
}

/** Print an aligned text table (also valid Markdown) through `log`. */
export function printTable(log, header, rows) {
  const cells = [header, ...rows].map((r) => r.map((c) => String(c)));
  const width = header.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const line = (r) => `| ${r.map((c, i) => c.padEnd(width[i])).join(" | ")} |`;
  log(line(cells[0]));
  log(`|${width.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const r of cells.slice(1)) log(line(r));
}
