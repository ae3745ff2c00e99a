import { describe, expect, it } from "@jest/globals";
import { table } from "../src/output";
import { historyTable, packTable } from "../src/handlers/render";
import { progressText } from "../src/progress";
import type { PackRecord } from "../src/backends/types";

const LONG_REF = "enterprise_monitoring_integration_suite";
const LONG_VERSION = "12.345.6789-beta.10";

describe("tables at 80 columns", () => {
  it("shrink the other columns first and never cut a kept one", () => {
    const out = table(
      ["ref", "note"],
      [[LONG_REF, "a long note that can be cut without losing anything a user types next"]],
      60,
      ["ref"],
    );
    const [head, row] = out.split("\n");
    expect(row.startsWith(`${LONG_REF}  `)).toBe(true);
    expect(row).toContain("…");
    expect(row.length).toBeLessThanOrEqual(60);
    expect(head.startsWith("REF")).toBe(true);
  });

  it("leave a row longer than the terminal rather than cut a kept value", () => {
    const out = table(["ref", "version", "x"], [[LONG_REF, LONG_VERSION, "some other value"]], 40, [
      "ref",
      "version",
    ]);
    const row = out.split("\n")[1];
    expect(row).toContain(LONG_REF);
    expect(row).toContain(LONG_VERSION);
    expect(row).toMatch(/ some ot…$/); // the other column at its minimum: 8 characters, "…" included
  });

  it("pack list keeps refs and versions whole at 80 columns", () => {
    const rec = (ref: string): PackRecord =>
      ({
        pack: { ref, version: LONG_VERSION },
        installation: {
          source_type: "local_directory",
          installed_at: "2026-11-26T23:59:00.000Z",
          checksum: `sha256:${"ab".repeat(32)}`,
        },
      }) as unknown as PackRecord;
    const lines = packTable([rec(LONG_REF), rec("hello_world")]).split("\n");
    expect(lines[1]).toContain(`${LONG_REF}  ${LONG_VERSION}`);
    expect(lines[2]).toMatch(new RegExp(`^hello_world +${LONG_VERSION.replace(/\./g, "\\.")}  `));
  });

  it("history shows the error code whole, and a downgrade as one", () => {
    const out = historyTable([
      {
        created: "2026-11-26T23:59:00.000Z",
        action: "upgrade",
        outcome: "success",
        version: "1.0.0",
        actor_name: "someone-with-a-long-name",
        source_type: "local_directory",
        error: null,
        details: { downgrade: true },
      },
      {
        created: "2026-11-26T23:59:30.000Z",
        action: "failed",
        outcome: "failure",
        version: LONG_VERSION,
        actor_name: "someone-with-a-long-name",
        source_type: "local_directory",
        error: "ECONFLICT: pack 'x' version 1.0.0 is already installed",
        details: { code: "ECONFLICT" },
      },
    ]);
    const [, down, failed] = out.split("\n");
    expect(down).toMatch(/ downgrade +success +1\.0\.0 /);
    expect(failed).toContain(LONG_VERSION);
    expect(failed).toMatch(/ ECONFLICT$/);
  });

  it("history shows an interrupted event's code, also for one recorded before it had one", () => {
    const interrupted = (error: string) => ({
      created: "2026-11-26T23:59:00.000Z",
      action: "upgrade",
      outcome: "interrupted",
      version: "2.0.0",
      actor_name: "root",
      source_type: "local_directory",
      error,
      details: { resolution: "rolled_back" },
    });
    const out = historyTable([
      interrupted("EINTERRUPTED: interrupted before the database commit; rolled back: nothing was stored"),
      interrupted("interrupted before the database commit; rolled back: nothing was stored"),
    ]);
    const [, now, before] = out.split("\n");
    for (const row of [now, before]) {
      expect(row).toMatch(/ EINTERRUPTED$/);
      // the sentence no longer crowds the other columns, and the time is never cut
      expect(row).toContain("2026-11-26 23:59Z");
      expect(row).toMatch(/ root +local_/);
      expect(row.length).toBeLessThanOrEqual(80);
    }
  });
});

describe("nextPriority (registry add without --priority)", () => {
  it("is 10 past the highest, capped at 999999999 unless a higher one was written by hand", async () => {
    const { nextPriority } = await import("../src/handlers/registry");
    expect(nextPriority([])).toBe(10);
    expect(nextPriority([5, 30])).toBe(40);
    expect(nextPriority([999_999_995])).toBe(999_999_999);
    expect(nextPriority([999_999_999])).toBe(999_999_999);
    expect(nextPriority([Number.MAX_SAFE_INTEGER])).toBe(Number.MAX_SAFE_INTEGER);
  });
});

describe("the progress line", () => {
  it("counts files in the singular for one and in the plural otherwise", () => {
    expect(progressText({ phase: "hash", files: 1 }, 80)).toBe("hash     1 file");
    expect(progressText({ phase: "hash", files: 0 }, 80)).toBe("hash     0 files");
    expect(progressText({ phase: "store", files: 2, message: "demo" }, 80)).toBe("store    2 files demo");
  });
});
