import { afterAll, beforeAll, expect, it } from "@jest/globals";
import Database from "better-sqlite3";
import {
  openDirectWriter,
  withTransaction,
  type DirectWriter,
  type InstallCommit,
  type InstallEventInput,
} from "../src";
import { withEnv } from "@attune/test-utils";
import { sqliteFilePath } from "../src/url";
import { eachProvider, rejectsWith, SUM_A, SUM_B, uniqueRef, type ProviderContext } from "./helpers";

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

eachProvider("openDirectWriter: events", (ctx) => {
  let writer: DirectWriter;
  beforeAll(() => {
    writer = openDirectWriter(ctx.url);
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
      written.push(n % 2 ? await writer.appendEvent(input) : await ctx.repos.events.append(input));
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
    for (const tz of ["Pacific/Chatham", "America/Los_Angeles"]) {
      await withEnv({ TZ: tz }, async () => {
        const before = Date.now();
        const row = await writer.appendEvent(base(ref, 1));
        const after = Date.now();
        const [read] = await ctx.repos.events.listByRef(ref, { limit: 1 });
        expect(read).toEqual(row);
        expect(row.createdAt.getTime()).toBeGreaterThanOrEqual(before);
        expect(row.createdAt.getTime()).toBeLessThanOrEqual(after);
      });
    }
  });

  it("refuses what the repository refuses, with the same typed error, and writes nothing", async () => {
    const ref = uniqueRef("evw-bad");
    const bad = await rejectsWith(
      writer.appendEvent({ ...base(ref, 1), action: "explode" as never }),
      "EINVALID_INPUT",
    );
    expect(bad.details).toEqual({ field: "action" });
    await rejectsWith(writer.appendEvent({ ...base(ref, 1), details: [] as never }), "EINVALID_INPUT");
    await rejectsWith(writer.appendEvent({ ...base(ref, 1), packRef: "" }), "EINVALID_INPUT");
    // an actor that does not exist: the same answer as through Prisma
    const viaPrisma = await rejectsWith(
      ctx.repos.events.append({ ...base(ref, 1), actorId: 987654321 }),
      "ENOTFOUND",
    );
    const direct = await rejectsWith(
      writer.appendEvent({ ...base(ref, 1), actorId: 987654321 }),
      "ENOTFOUND",
    );
    expect(direct.message.replace(/:.*/, "")).toBe(viaPrisma.message.replace(/:.*/, ""));
    expect(await ctx.repos.events.listByRef(ref)).toEqual([]);
  });
});

it("reports an unreachable store as EDATABASE, not a crash", async () => {
  const writer = openDirectWriter("postgresql://postgres@127.0.0.1:1/none");
  try {
    await rejectsWith(writer.appendEvent(base("unreachable", 1)), "EDATABASE");
  } finally {
    await writer.close();
  }
});

/** The install commit as the installer made it through Prisma: the reference for the direct path. */
async function commitViaPrisma(ctx: ProviderContext, c: InstallCommit) {
  return withTransaction(ctx.db, async (tx) => {
    const { row: pack } = await tx.packs.upsert(c.pack);
    const { row } = await tx.installations.upsert({ ...c.installation, packId: pack.id });
    await tx.events.append(c.event);
    const { fileManifest: _m, ...installation } = row;
    return { pack, installation };
  });
}

/** Everything stored for a ref, without what must differ between two refs (ids, times, the ref). */
async function stored(ctx: ProviderContext, ref: string) {
  const pack = await ctx.repos.packs.findByRef(ref);
  const installation = pack && (await ctx.repos.installations.findByPackId(pack.id));
  const events = await ctx.repos.events.listByRef(ref);
  const strip = <T extends object>(row: T | null) => {
    if (!row) return row;
    const {
      id: _i,
      packId: _p,
      ref: _r,
      packRef: _pr,
      createdAt: _c,
      updatedAt: _u,
      installedBy: _b,
      ...rest
    } = row as Record<string, unknown>;
    return rest;
  };
  return { pack: strip(pack), installation: strip(installation), events: events.map(strip) };
}

const commit = (ref: string, n: number, extra: Partial<InstallCommit["pack"]> = {}): InstallCommit => ({
  pack: {
    ref,
    label: `Pack ${n}`,
    version: `1.${n}.0`,
    description: n % 2 ? 'ünïcode "quoted"' : null,
    tags: ["a", `t${n}`],
    confSchema: n % 2 ? { type: "object" } : null,
    meta: { n },
    runtimeDeps: ["python3"],
    dependencies: n % 2 ? ["core@^1"] : [],
    ...extra,
  },
  installation: {
    sourceType: n % 2 ? "registry" : "local_directory",
    sourceUrl: n % 2 ? "https://example.com/p.tar.gz" : "/src/p",
    sourceRef: n % 2 ? "v1" : null,
    resolvedCommit: null,
    checksum: n % 2 ? SUM_A : SUM_B,
    checksumVerified: n % 2 === 1,
    installedAt: new Date(Date.UTC(2026, 10, 1 + n, 1, 2, 3, 456)),
    installedBy: null,
    installationMethod: n % 2 ? "api" : "cli",
    storagePath: `/packs/p-${n}`,
    meta: { force: n % 2 === 1, operation_id: `op-${n}` },
    fileManifest: {
      "pack.yaml": { size: n, sha256: "f".repeat(64) },
      "a/b.py": { size: 0, sha256: "0".repeat(64) },
    },
  },
  event: {
    packRef: ref,
    version: `1.${n}.0`,
    action: n === 0 ? "install" : "upgrade",
    outcome: "success",
    details: { n },
  },
});

eachProvider("openDirectWriter: install commit and uninstall", (ctx) => {
  let writer: DirectWriter;
  beforeAll(() => {
    writer = openDirectWriter(ctx.url);
  });
  afterAll(async () => {
    await writer?.close();
  });

  it("stores what the Prisma transaction stores: a new pack, an upgrade, fields left out kept", async () => {
    const direct = uniqueRef("dw");
    const prisma = uniqueRef("dw");
    const steps = [
      (ref: string) => commit(ref, 0),
      (ref: string) => commit(ref, 1),
      // absent fields are kept (description, tags...), present ones replaced
      (ref: string) => {
        const c = commit(ref, 2);
        const { description: _d, tags: _t, confSchema: _s, ...pack } = c.pack;
        return { ...c, pack: pack as InstallCommit["pack"] };
      },
    ];
    for (const step of steps) {
      const before = await ctx.repos.packs.findByRef(direct);
      const got = await writer.commitInstall(step(direct));
      const want = await commitViaPrisma(ctx, step(prisma));
      expect(await stored(ctx, direct)).toEqual(await stored(ctx, prisma));
      // what it returns is what is stored (minus the manifest)
      const pack = await ctx.repos.packs.findByRef(direct);
      const { fileManifest: manifest, ...installation } = (await ctx.repos.installations.findByPackId(
        pack!.id,
      ))!;
      expect(got).toEqual({ pack, installation });
      expect(manifest).toEqual(step(direct).installation.fileManifest);
      expect(Object.keys(got.installation).sort()).toEqual(Object.keys(want.installation).sort());
      // an upgrade keeps the pack's id and creation time and moves its update time
      if (before) {
        expect(got.pack.id).toBe(before.id);
        expect(got.pack.createdAt).toEqual(before.createdAt);
        expect(got.pack.updatedAt.getTime()).toBeGreaterThanOrEqual(before.updatedAt.getTime());
      }
    }
    expect((await ctx.repos.packs.findByRef(direct))?.description).toBe('ünïcode "quoted"');
  });

  it("writes nothing when a statement fails midway (the pack insert is rolled back)", async () => {
    const ref = uniqueRef("dw-fail");
    const c = commit(ref, 0);
    // an installer identity that does not exist: the second statement fails on the foreign key
    const failing = { ...c, installation: { ...c.installation, installedBy: 987654321 } };
    await rejectsWith(writer.commitInstall(failing), "ENOTFOUND");
    expect(await ctx.repos.packs.findByRef(ref)).toBeNull();
    expect(await ctx.repos.events.listByRef(ref)).toEqual([]);
    // invalid input is refused before anything is sent
    const bad = { ...c, installation: { ...c.installation, sourceType: "ftp" as never } };
    expect((await rejectsWith(writer.commitInstall(bad), "EINVALID_INPUT")).details).toEqual({
      field: "source_type",
    });
    expect(await ctx.repos.packs.findByRef(ref)).toBeNull();
  });

  it("uninstalls: the pack and its installation gone, the event kept; false for an unknown ref", async () => {
    const ref = uniqueRef("dw-del");
    await writer.commitInstall(commit(ref, 0));
    const packId = (await ctx.repos.packs.findByRef(ref))!.id;
    const event = {
      packRef: ref,
      version: "1.0.0",
      action: "uninstall" as const,
      outcome: "success" as const,
      details: {},
    };
    expect(await writer.deletePack(ref, event)).toBe(true);
    expect(await ctx.repos.packs.findByRef(ref)).toBeNull();
    expect(await ctx.repos.installations.findByPackId(packId)).toBeNull();
    expect(await writer.deletePack(ref, event)).toBe(false);
    expect((await ctx.repos.events.listByRef(ref)).map((e) => e.action)).toEqual([
      "uninstall",
      "uninstall",
      "install",
    ]);
  });
});

eachProvider("openDirectWriter: a write lock held by this process's Prisma client", (ctx) => {
  it("waits for the other transaction without blocking the event loop, then commits", async () => {
    const writer = openDirectWriter(ctx.url);
    try {
      const ref = uniqueRef("dw-wait");
      let released = 0;
      let locked!: () => void;
      const holding = new Promise<void>((r) => (locked = r));
      // Prisma's interactive transaction takes the write lock and needs event-loop turns to finish
      const holder = withTransaction(ctx.db, async (tx) => {
        await tx.events.append({ packRef: ref, action: "verify", outcome: "success", details: {} });
        locked();
        await new Promise((r) => setTimeout(r, 300));
        released = Date.now();
      });
      // it holds the lock once its write is done (a fixed pause lost that race on a busy machine);
      // should it fail instead, `await holder` below reports why
      void holder.catch(() => locked());
      await holding;
      const started = Date.now();
      const row = await writer.commitInstall(commit(ref, 0));
      await holder;
      expect(row.pack.ref).toBe(ref);
      if (ctx.provider === "sqlite") expect(Date.now()).toBeGreaterThanOrEqual(released);
      expect(Date.now() - started).toBeLessThan(5_000); // not the 10 s busy timeout
      expect((await ctx.repos.events.listByRef(ref)).map((e) => e.action)).toEqual(["install", "verify"]);
    } finally {
      await writer.close();
    }
  });
});

eachProvider("openDirectWriter: closed", (ctx) => {
  it("refuses to write after close with EDATABASE, and opens nothing again", async () => {
    const writer = openDirectWriter(ctx.url);
    const ref = uniqueRef("dw-closed");
    await writer.appendEvent(base(ref, 1));
    await writer.close();
    await rejectsWith(writer.appendEvent(base(ref, 2)), "EDATABASE");
    expect(await ctx.repos.events.listByRef(ref)).toHaveLength(1);
  });
});
