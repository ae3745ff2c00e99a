import { afterAll, beforeAll, expect, it } from "@jest/globals";
import Database from "better-sqlite3";
import { openEventWriter, type EventWriter, type InstallEventInput } from "../src";
import { sqliteFilePath } from "../src/url";
import { eachProvider, rejectsWith, uniqueRef } from "./helpers";

const base = (ref: string, n: number): InstallEventInput => ({
  packRef: ref,
  version: `1.${n}.0`,
  action: n % 2 ? "verify" : "install",
  outcome: n % 3 ? "success" : "failure",
  sourceType: n % 2 ? "registry" : null,
  sourceUrl: n % 2 ? `https://example.com/${n}.tar.gz` : null,
  actorName: n % 2 ? "alice" : null,
  method: n % 2 ? "api" : null,
  error: n % 3 ? null : `EINTEGRITY: case ${n} with "quotes" and ünïcode`,
  details: { n, nested: { ok: n % 2 === 0 }, list: [1, "two"] },
});

eachProvider("openEventWriter", (ctx) => {
  let writer: EventWriter;
  beforeAll(() => {
    writer = openEventWriter(ctx.url);
  });
  afterAll(async () => {
    await writer?.close();
  });

  it("writes the row the repository writes, and returns it as the repository reads it", async () => {
    const ref = uniqueRef("evw");
    const who = await ctx.repos.identities.create({ name: uniqueRef("evw-bob") });
    const written = [];
    for (let n = 0; n < 6; n++) {
      const input = { ...base(ref, n), actorId: n === 4 ? who.id : null };
      // alternate the two paths: the history must read back in write order whichever wrote it
      written.push(n % 2 ? await writer.append(input) : await ctx.repos.events.append(input));
    }
    const history = (await ctx.repos.events.listByRef(ref)).reverse();
    expect(history).toEqual(written);
    for (const [n, row] of history.entries()) {
      const { packRef, version, action, outcome, details } = base(ref, n);
      expect(row).toMatchObject({
        packRef,
        version,
        action,
        outcome,
        details,
        actorId: n === 4 ? who.id : null,
      });
    }
    // timestamps are real instants, in write order
    const times = history.map((e) => e.createdAt.getTime());
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(Math.abs(times[times.length - 1] - Date.now())).toBeLessThan(60_000);
    if (ctx.provider === "sqlite") {
      // SQLite compares the text: both paths must store the one form Prisma writes
      const file = new Database(sqliteFilePath(ctx.url), { readonly: true });
      try {
        const stored = file
          .prepare("SELECT created FROM install_event WHERE pack_ref = ? ORDER BY id")
          .pluck()
          .all(ref) as string[];
        expect(stored).toHaveLength(6);
        for (const text of stored) expect(text).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$/);
      } finally {
        file.close();
      }
    }
  });

  it("keeps the instant whatever the process's time zone", async () => {
    const ref = uniqueRef("evw-tz");
    const zone = process.env.TZ;
    try {
      for (const tz of ["Pacific/Chatham", "America/Los_Angeles"]) {
        process.env.TZ = tz;
        const before = Date.now();
        const row = await writer.append(base(ref, 1));
        const after = Date.now();
        const [read] = await ctx.repos.events.listByRef(ref, { limit: 1 });
        expect(read).toEqual(row);
        expect(row.createdAt.getTime()).toBeGreaterThanOrEqual(before);
        expect(row.createdAt.getTime()).toBeLessThanOrEqual(after);
      }
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });

  it("refuses what the repository refuses, with the same typed error, and writes nothing", async () => {
    const ref = uniqueRef("evw-bad");
    const bad = await rejectsWith(
      writer.append({ ...base(ref, 1), action: "explode" as never }),
      "EINVALID_INPUT",
    );
    expect(bad.details).toEqual({ field: "action" });
    await rejectsWith(writer.append({ ...base(ref, 1), details: [] as never }), "EINVALID_INPUT");
    await rejectsWith(writer.append({ ...base(ref, 1), packRef: "" }), "EINVALID_INPUT");
    // an actor that does not exist: the same answer as through Prisma
    const viaPrisma = await rejectsWith(
      ctx.repos.events.append({ ...base(ref, 1), actorId: 987654321 }),
      "ENOTFOUND",
    );
    const direct = await rejectsWith(writer.append({ ...base(ref, 1), actorId: 987654321 }), "ENOTFOUND");
    expect(direct.message.replace(/:.*/, "")).toBe(viaPrisma.message.replace(/:.*/, ""));
    expect(await ctx.repos.events.listByRef(ref)).toEqual([]);
  });
});

it("reports an unreachable store as EDATABASE, not a crash", async () => {
  const writer = openEventWriter("postgresql://postgres@127.0.0.1:1/none");
  try {
    await rejectsWith(writer.append(base("unreachable", 1)), "EDATABASE");
  } finally {
    await writer.close();
  }
});
