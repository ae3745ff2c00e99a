import { afterAll, beforeAll, expect, it } from "@jest/globals";
import { openInstallationLister, type InstallationLister, type PackInstallationRow } from "../src";
import { eachProvider, rejectsWith, SUM_A, SUM_B, uniqueRef, type ProviderContext } from "./helpers";

const without = ({ fileManifest: _m, ...rest }: PackInstallationRow) => rest;

/** What the Prisma repository lists, minus the manifest: the lister must return exactly this. */
async function viaPrisma(ctx: ProviderContext, filter: Parameters<InstallationLister["list"]>[0]) {
  const p = await ctx.repos.installations.list(filter);
  return { ...p, items: p.items.map((i) => ({ pack: i.pack, installation: without(i.installation) })) };
}

eachProvider("openInstallationLister", (ctx) => {
  let lister: InstallationLister;
  const prefix = uniqueRef("lst");

  beforeAll(async () => {
    const who = await ctx.repos.identities.create({ name: uniqueRef("lister-alice") });
    // varied rows: every nullable column both ways, JSON columns, all source types, and refs whose
    // order depends on the collation (digits, underscores, dashes)
    const types = ["git", "archive", "local_directory", "local_archive", "registry"] as const;
    for (let i = 0; i < 23; i++) {
      const pack = await ctx.repos.packs.create({
        ref: `${prefix}${["_", "-", ""][i % 3]}${String(i).padStart(2, "0")}`,
        label: `Pack ${i}`,
        description: i % 2 ? `description ${i} with "quotes" and ünïcode` : null,
        version: `1.${i}.0`,
        tags: i % 4 ? ["a", `t${i}`] : [],
        confSchema: i % 5 ? null : { type: "object", properties: { n: { type: "integer" } } },
        meta: { order: i, nested: { ok: i % 2 === 0 } },
        runtimeDeps: i % 3 ? ["python3"] : [],
        dependencies: i % 6 ? [] : ["core@>=1.0.0"],
      });
      await ctx.repos.installations.create({
        packId: pack.id,
        sourceType: types[i % types.length],
        sourceUrl: i % 2 ? `https://example.com/${i}.tar.gz` : null,
        sourceRef: i % 3 ? `v1.${i}.0` : null,
        resolvedCommit: i % 5 === 0 ? "0123456789abcdef0123456789abcdef01234567" : null,
        checksum: i % 2 ? SUM_A : SUM_B,
        checksumVerified: i % 2 === 0,
        installedAt: new Date(Date.UTC(2026, 0, 1 + i, 3, 4, 5, 678)),
        installedBy: i % 2 ? who.id : null,
        installationMethod: i % 2 ? "api" : "cli",
        storagePath: `/packs/p${i}`,
        meta: { force: i % 2 === 1 },
        fileManifest: { "pack.yaml": { size: i, sha256: "c".repeat(64) } },
      });
    }
    lister = openInstallationLister(ctx.url);
  });
  afterAll(async () => {
    await lister?.close();
  });

  it("returns exactly what the repository lists, page by page, without the file manifest", async () => {
    const everything = await viaPrisma(ctx, { page: 1, pageSize: 500 });
    expect(everything.totalItems).toBeGreaterThanOrEqual(23);
    for (const pageSize of [1, 7, 20, 500]) {
      for (let page = 1; page <= Math.ceil(everything.totalItems / pageSize) + 1; page++) {
        const got = await lister.list({ page, pageSize });
        expect(got).toEqual(await viaPrisma(ctx, { page, pageSize }));
        for (const item of got.items) expect(item.installation).not.toHaveProperty("fileManifest");
      }
    }
    // dates are real instants (not shifted by the server's zone), booleans real booleans
    const first = (await lister.list({ page: 1, pageSize: 500 })).items.find(
      (i) => i.pack.ref === `${prefix}_00`,
    );
    expect(first?.installation.installedAt.toISOString()).toBe("2026-01-01T03:04:05.678Z");
    expect(first?.installation.checksumVerified).toBe(true);
  });

  it("filters by source type, with the total of that type (also on a page past the end)", async () => {
    for (const sourceType of ["git", "registry", "local_archive"] as const) {
      const expected = await viaPrisma(ctx, { sourceType, page: 1, pageSize: 3 });
      expect(await lister.list({ sourceType, page: 1, pageSize: 3 })).toEqual(expected);
      expect(expected.items.every((i) => i.installation.sourceType === sourceType)).toBe(true);
      const past = await lister.list({ sourceType, page: 99, pageSize: 3 });
      expect(past).toEqual({ ...expected, items: [], page: 99 });
      expect(past.totalItems).toBeGreaterThan(0);
    }
  });

  it("sees a write committed through Prisma after it was opened (no stale snapshot)", async () => {
    const before = (await lister.list({ page: 1, pageSize: 1 })).totalItems;
    const pack = await ctx.repos.packs.create({ ref: `${prefix}zz_late`, label: "late", version: "9.9.9" });
    await ctx.repos.installations.create({
      packId: pack.id,
      sourceType: "git",
      checksum: SUM_A,
      installationMethod: "cli",
      storagePath: "/packs/late",
    });
    const after = await lister.list({ page: 1, pageSize: 500 });
    expect(after.totalItems).toBe(before + 1);
    expect(after.items.map((i) => i.pack.ref)).toContain(`${prefix}zz_late`);
  });

  it("refuses a bad page, page size or source type with EINVALID_INPUT naming the field", async () => {
    expect((await rejectsWith(lister.list({ page: 0 }), "EINVALID_INPUT")).details).toEqual({
      field: "page",
    });
    expect((await rejectsWith(lister.list({ pageSize: 501 }), "EINVALID_INPUT")).details).toEqual({
      field: "page_size",
    });
    const bad = await rejectsWith(lister.list({ sourceType: "ftp" as never }), "EINVALID_INPUT");
    expect(bad.details).toEqual({ field: "source_type" });
  });
});

it("reports an unreachable store as EDATABASE when listing, not a crash", async () => {
  const lister = openInstallationLister("postgresql://postgres@127.0.0.1:1/none");
  try {
    await rejectsWith(lister.list({}), "EDATABASE");
  } finally {
    await lister.close();
  }
});

eachProvider("openInstallationLister: one pack by ref", (ctx) => {
  let lister: InstallationLister;
  const prefix = uniqueRef("one");
  const manifest = {
    "pack.yaml": { size: 12, sha256: "d".repeat(64) },
    "actions/a.py": { size: 0, sha256: "e".repeat(64) },
  };

  beforeAll(async () => {
    lister = openInstallationLister(ctx.url);
  });
  afterAll(async () => {
    await lister?.close();
  });

  /** What the Prisma repositories read for a ref: the lister must return exactly this, minus the manifest. */
  async function viaPrismaByRef(ref: string) {
    const pack = await ctx.repos.packs.findByRef(ref);
    if (!pack) return null;
    const installation = await ctx.repos.installations.findByPackId(pack.id);
    return {
      pack,
      installation: installation && without(installation),
      hasFileManifest: installation?.fileManifest != null,
    };
  }

  it("returns what the repositories return, with and without an installation or a manifest", async () => {
    const full = await ctx.repos.packs.create({
      ref: `${prefix}_full`,
      label: "Full",
      description: "ünïcode",
      version: "2.0.0",
      tags: ["x"],
      confSchema: { type: "object" },
      meta: { a: 1 },
      runtimeDeps: ["python3"],
      dependencies: ["core@^1"],
    });
    const inst = await ctx.repos.installations.create({
      packId: full.id,
      sourceType: "registry",
      sourceUrl: "https://example.com/x.tar.gz",
      checksum: SUM_A,
      checksumVerified: true,
      installedAt: new Date(Date.UTC(2026, 5, 7, 8, 9, 10, 111)),
      installationMethod: "api",
      storagePath: "/packs/full",
      meta: { force: true },
      fileManifest: manifest,
    });
    const bare = await ctx.repos.packs.create({ ref: `${prefix}_bare`, label: "Bare", version: "1.0.0" });
    await ctx.repos.installations.create({
      packId: bare.id,
      sourceType: "git",
      checksum: SUM_B,
      installationMethod: "cli",
      storagePath: "/packs/bare",
    });
    await ctx.repos.packs.create({ ref: `${prefix}_none`, label: "None", version: "1.0.0" });

    for (const ref of [`${prefix}_full`, `${prefix}_bare`, `${prefix}_none`, `${prefix}_missing`])
      expect(await lister.findByRef(ref)).toEqual(await viaPrismaByRef(ref));
    const found = await lister.findByRef(`${prefix}_full`);
    expect(found?.hasFileManifest).toBe(true);
    expect(found?.installation).not.toHaveProperty("fileManifest");
    expect(found?.installation?.installedAt.toISOString()).toBe("2026-06-07T08:09:10.111Z");
    expect((await lister.findByRef(`${prefix}_bare`))?.hasFileManifest).toBe(false);
    expect((await lister.findByRef(`${prefix}_none`))?.installation).toBeNull();
    expect(await lister.findByRef(`${prefix}_missing`)).toBeNull();

    // the manifest on demand: exactly what was stored; null when none was, or the row is gone
    expect(await lister.fileManifest(inst.id)).toEqual(manifest);
    expect(
      await lister.fileManifest((await lister.findByRef(`${prefix}_bare`))!.installation!.id),
    ).toBeNull();
    await ctx.repos.packs.delete(full.id);
    expect(await lister.fileManifest(inst.id)).toBeNull();
    expect(await lister.findByRef(`${prefix}_full`)).toBeNull();
  });

  it("reads a ref's history as the repository does: newest first, ties by id, after the pack is gone", async () => {
    const ref = `${prefix}_hist`;
    const who = await ctx.repos.identities.create({ name: uniqueRef("lister-hist") });
    for (let n = 0; n < 5; n++)
      await ctx.repos.events.append({
        packRef: ref,
        version: n % 2 ? `1.${n}.0` : null,
        action: (["install", "verify", "upgrade", "failed", "uninstall"] as const)[n],
        outcome: n === 3 ? "failure" : "success",
        sourceType: n % 2 ? "git" : null,
        sourceUrl: n % 2 ? "https://example.com/r.git" : null,
        actorId: n === 2 ? who.id : null,
        actorName: n === 2 ? "alice" : null,
        method: n % 2 ? "api" : null,
        error: n === 3 ? 'EINTEGRITY: "quoted" ünïcode' : null,
        details: { n, nested: { list: [n] } },
      });
    const history = await lister.events(ref);
    expect(history).toEqual(await ctx.repos.events.listByRef(ref));
    expect(history.map((e) => e.action)).toEqual(["uninstall", "failed", "upgrade", "verify", "install"]);
    expect(await lister.events(`${prefix}_never`)).toEqual([]);
  });

  it("reads a ref's history a page at a time as the repository does: page 1 the newest, with the total", async () => {
    const ref = `${prefix}_paged`;
    // appended within the same millisecond, some of them: ties are broken by id on every page
    for (let n = 0; n < 11; n++)
      await ctx.repos.events.append({
        packRef: ref,
        version: `1.${n}.0`,
        action: n % 3 ? "verify" : "install",
        outcome: "success",
        details: { n },
      });
    await ctx.repos.events.append({ packRef: `${ref}_other`, action: "install", outcome: "success" });
    const all = await lister.events(ref);
    expect(all).toHaveLength(11);
    for (const pageSize of [1, 4, 11, 500]) {
      const pages = Math.ceil(11 / pageSize);
      const seen: number[] = [];
      for (let page = 1; page <= pages + 1; page++) {
        const got = await lister.eventPage(ref, { page, pageSize });
        expect(got).toEqual(await ctx.repos.events.pageByRef(ref, { page, pageSize }));
        expect(got).toMatchObject({ page, pageSize, totalItems: 11, totalPages: pages });
        expect(got.items).toEqual(all.slice((page - 1) * pageSize, page * pageSize));
        seen.push(...got.items.map((e) => e.details.n as number));
      }
      expect(seen).toEqual([10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    }
    // the default page: 1, of 50 (the repositories' default)
    expect(await lister.eventPage(ref)).toEqual({
      items: all,
      page: 1,
      pageSize: 50,
      totalItems: 11,
      totalPages: 1,
    });
    const never = { items: [], pageSize: 5, totalItems: 0, totalPages: 0 };
    expect(await lister.eventPage(`${prefix}_never`, { pageSize: 5 })).toEqual({ ...never, page: 1 });
    expect(await lister.eventPage(`${prefix}_never`, { page: 3, pageSize: 5 })).toEqual({
      ...never,
      page: 3,
    });
    expect(await ctx.repos.events.pageByRef(`${prefix}_never`, { page: 3, pageSize: 5 })).toEqual({
      ...never,
      page: 3,
    });
    expect((await rejectsWith(lister.eventPage(ref, { page: 0 }), "EINVALID_INPUT")).details).toEqual({
      field: "page",
    });
    expect(
      (await rejectsWith(ctx.repos.events.pageByRef(ref, { pageSize: 501 }), "EINVALID_INPUT")).details,
    ).toEqual({ field: "page_size" });
  });
});

it("reports a SQLite store it cannot open as EDATABASE (on the first read, not a raw driver error)", async () => {
  const lister = openInstallationLister("file:/nonexistent-dir/attune.db");
  try {
    await rejectsWith(lister.findByRef("x"), "EDATABASE");
    await rejectsWith(lister.list({}), "EDATABASE");
  } finally {
    await lister.close();
  }
  await rejectsWith(lister.events("x"), "EDATABASE"); // closed: refused, no connection reopened
  await rejectsWith(lister.eventPage("x"), "EDATABASE");
});
