import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import { tmpDir } from "@attune/test-utils";
import { Attempts, settleAttempts } from "../src/attempts";
import type { InstallerContext } from "../src/context";

let tmp: ReturnType<typeof tmpDir>;
let dir: string;
beforeEach(() => {
  tmp = tmpDir("attune-attempts-");
  dir = path.join(tmp.dir, ".attempts");
});
afterEach(() => tmp.cleanup());

const info = {
  ref: "core",
  version: "1.0.0",
  source_type: "local_directory" as const,
  requested_source: "/src/core",
  requested_ref: null,
  force: false,
  actor_id: null,
  actor_name: "tester",
  token_id: null,
  method: "cli" as const,
};

/** A context with real attempt files and a fake journal and event store. */
function context(appendEvent: (e: unknown) => Promise<void>): InstallerContext {
  return {
    attempts: new Attempts(dir),
    journal: { read: async () => null },
    store: { appendEvent },
  } as unknown as InstallerContext;
}

/**
 * Leave an attempt file as a process that then died would have: never ended, and named by its
 * owner `<pid>@<host>~<hex>`, here this host with a pid that is not running.
 */
async function abandoned(): Promise<string> {
  await new Attempts(dir).start(info);
  const own = fs.readdirSync(dir).find((n) => n.endsWith(".json"))!;
  const name = own.replace(/^\d+(\.\d+)?@/, "999999999@");
  fs.renameSync(path.join(dir, own), path.join(dir, name));
  return name;
}

describe("install attempts", () => {
  it("a live process's attempt is left alone; a dead one's is recorded once and removed", async () => {
    const events: Array<Record<string, any>> = []; // eslint-disable-line @typescript-eslint/no-explicit-any
    const ctx = context(async (e) => void events.push(e as Record<string, unknown>));
    const live = await ctx.attempts.start(info);
    expect(await settleAttempts(ctx)).toEqual({ interrupted: [], unnamed: [] });
    await live.end();
    await abandoned();
    const settled = await settleAttempts(ctx);
    expect(settled.interrupted).toEqual([
      expect.objectContaining({ ref: "core", version: "1.0.0", resolution: "rolled_back" }),
    ]);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      packRef: "core",
      outcome: "interrupted",
      details: { host: os.hostname() },
    });
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(await settleAttempts(ctx)).toEqual({ interrupted: [], unnamed: [] });
    expect(events).toHaveLength(1);
  });

  it("an attempt whose event cannot be written now is put back, and recorded by the next settling", async () => {
    let down = true;
    const events: unknown[] = [];
    const ctx = context(async (e) => {
      if (down) throw Object.assign(new Error("database is locked"), { code: "EDATABASE" });
      events.push(e);
    });
    const name = await abandoned();
    expect(await settleAttempts(ctx)).toEqual({ interrupted: [], unnamed: [] });
    expect(fs.readdirSync(dir)).toEqual([name]);
    down = false;
    expect((await settleAttempts(ctx)).interrupted).toHaveLength(1);
    expect(events).toHaveLength(1);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it("planted or damaged files are removed without a record, and never break the settling", async () => {
    const events: unknown[] = [];
    const ctx = context(async (e) => void events.push(e));
    const name = await abandoned();
    const stem = name.slice(0, -".json".length).replace(/~[0-9a-f]{12}$/, "");
    const planted = (hex: string) => path.join(dir, `${stem}~${hex}.json`);
    fs.writeFileSync(planted("aaaaaaaaaaaa"), "{ not json");
    fs.writeFileSync(planted("bbbbbbbbbbbb"), JSON.stringify({ ref: "core" })); // not an attempt's shape
    fs.mkdirSync(planted("cccccccccccc"));
    fs.symlinkSync("/etc/passwd", planted("dddddddddddd"));
    fs.writeFileSync(planted("eeeeeeeeeeee"), Buffer.alloc(100 * 1024, 0x20)); // far too big
    const settled = await settleAttempts(ctx);
    expect(settled.interrupted).toHaveLength(1); // only the real one
    expect(events).toHaveLength(1);
    expect(fs.existsSync("/etc/passwd")).toBe(true);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it("a FIFO, or a link to one, never blocks the settling; a forged or loosely kept file is never recorded", async () => {
    const events: unknown[] = [];
    const ctx = context(async (e) => void events.push(e));
    const name = await abandoned();
    const real = JSON.parse(fs.readFileSync(path.join(dir, name), "utf8")) as Record<string, unknown>;
    const stem = name.slice(0, -".json".length).replace(/~[0-9a-f]{12}$/, "");
    const planted = (hex: string) => path.join(dir, `${stem}~${hex}.json`);
    execFileSync("mkfifo", [planted("aaaaaaaaaaaa")]);
    execFileSync("mkfifo", [path.join(tmp.dir, "fifo")]);
    fs.symlinkSync(path.join(tmp.dir, "fifo"), planted("bbbbbbbbbbbb"));
    const forged = (hex: string, over: Record<string, unknown>, mode = 0o600) =>
      fs.writeFileSync(planted(hex), JSON.stringify({ ...real, ...over }), { mode });
    forged("cccccccccccc", { actor_name: "mallory\x1b]0;title\x07" });
    forged("dddddddddddd", { host: "h\u202eevil" });
    forged("eeeeeeeeeeee", { started_at: "whenever" });
    forged("ffffffffffff", { method: "root", pid: -1 });
    forged("111111111111", { ref: "../etc" });
    forged("222222222222", {}, 0o644); // an install writes 0600: this one was not written by one
    const settled = await settleAttempts(ctx);
    expect(settled.interrupted).toHaveLength(1); // only the real one
    expect(events).toHaveLength(1);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it("writing an attempt never fails an install: an unwritable directory is ignored", async () => {
    fs.writeFileSync(dir, "a file where the directory should be");
    const handle = await new Attempts(dir).start(info);
    await handle.update({ phase: "validate" });
    await handle.end();
    expect(fs.readFileSync(dir, "utf8")).toBe("a file where the directory should be");
  });
});
