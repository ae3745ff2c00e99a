import { expect, it } from "@jest/globals";
import { eachProvider, rejectsWith, SUM_A, uniqueRef } from "./helpers";

eachProvider("PackRepository", (ctx) => {
  it("creates a pack and reads it back by id and by ref", async () => {
    const ref = uniqueRef("core");
    const created = await ctx.repos.packs.create({ ref, label: "Core", version: "1.0.0", description: "d" });
    expect(created).toMatchObject({
      ref,
      label: "Core",
      version: "1.0.0",
      description: "d",
      tags: [],
      meta: {},
    });
    expect(created.confSchema).toBeNull();
    expect(created.createdAt).toBeInstanceOf(Date);
    expect(await ctx.repos.packs.getById(created.id)).toEqual(created);
    expect(await ctx.repos.packs.getByRef(ref)).toEqual(created);
    expect(await ctx.repos.packs.exists(ref)).toBe(true);
    expect(await ctx.repos.packs.exists(`${ref}-nope`)).toBe(false);
  });

  it("rejects a duplicate ref with ECONFLICT naming the field", async () => {
    const ref = uniqueRef();
    await ctx.repos.packs.create({ ref, label: "A", version: "1.0.0" });
    const err = await rejectsWith(ctx.repos.packs.create({ ref, label: "B", version: "2.0.0" }), "ECONFLICT");
    expect(err.details?.fields).toEqual(["ref"]);
    expect((await ctx.repos.packs.getByRef(ref)).label).toBe("A");
  });

  it("reports missing rows as ENOTFOUND", async () => {
    await rejectsWith(ctx.repos.packs.getById(999_999), "ENOTFOUND");
    await rejectsWith(ctx.repos.packs.getByRef("missing-pack"), "ENOTFOUND");
    await rejectsWith(ctx.repos.packs.updateMetadata(999_999, { label: "x" }), "ENOTFOUND");
    await rejectsWith(ctx.repos.packs.delete(999_999), "ENOTFOUND");
    await rejectsWith(ctx.repos.packs.deleteByRef("missing-pack"), "ENOTFOUND");
    expect(await ctx.repos.packs.findByRef("missing-pack")).toBeNull();
  });

  it("round-trips JSON columns identically (key order, unicode, nesting, numbers, null)", async () => {
    const meta = {
      zeta: 1,
      alpha: { "ü-key": "ünï ✓ 😀", list: [3, 1, 2], nil: null },
      big: 1e21,
      neg: -0.5,
      b: true,
    };
    const confSchema = {
      type: "object",
      properties: { z: { type: "string" }, a: { type: "integer", default: 0 } },
    };
    const input = {
      ref: uniqueRef("json"),
      label: "J",
      version: "1.0.0",
      tags: ["b", "a", "ä"],
      meta,
      confSchema,
      runtimeDeps: ["python3>=3.9"],
      dependencies: ["core", "other@^1.2.0"],
    };
    const created = await ctx.repos.packs.create(input);
    const read = await ctx.repos.packs.getById(created.id);
    for (const row of [created, read]) {
      expect(row.meta).toEqual(meta);
      expect(JSON.stringify(row.meta)).toBe(JSON.stringify(meta)); // same key order
      expect(JSON.stringify(row.confSchema)).toBe(JSON.stringify(confSchema));
      expect(row.tags).toEqual(["b", "a", "ä"]);
      expect(row.runtimeDeps).toEqual(["python3>=3.9"]);
      expect(row.dependencies).toEqual(["core", "other@^1.2.0"]);
    }
    const scalar = await ctx.repos.packs.create({
      ref: uniqueRef("json"),
      label: "S",
      version: "1",
      confSchema: "just a string",
    });
    expect((await ctx.repos.packs.getById(scalar.id)).confSchema).toBe("just a string");
  });

  it("rejects values that are not JSON or of the wrong shape with EINVALID_INPUT naming the field", async () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const base = { ref: uniqueRef("bad"), label: "B", version: "1.0.0" };
    expect(
      (await rejectsWith(ctx.repos.packs.create({ ...base, meta: cyclic }), "EINVALID_INPUT")).details,
    ).toEqual({ field: "meta" });
    const badTags = { ...base, tags: ["ok", 3] as unknown as string[] };
    expect((await rejectsWith(ctx.repos.packs.create(badTags), "EINVALID_INPUT")).details).toEqual({
      field: "tags",
    });
    const arrayMeta = { ...base, meta: [] as unknown as Record<string, unknown> };
    expect((await rejectsWith(ctx.repos.packs.create(arrayMeta), "EINVALID_INPUT")).details).toEqual({
      field: "meta",
    });
    expect(
      (await rejectsWith(ctx.repos.packs.create({ ...base, label: " " }), "EINVALID_INPUT")).details,
    ).toEqual({ field: "label" });
    expect(await ctx.repos.packs.exists(base.ref)).toBe(false);
  });

  it("updates metadata, keeps untouched fields and maintains `updated`", async () => {
    const p = await ctx.repos.packs.create({
      ref: uniqueRef("upd"),
      label: "Old",
      version: "1.0.0",
      tags: ["x"],
    });
    const u = await ctx.repos.packs.updateMetadata(p.id, {
      label: "New",
      version: "1.1.0",
      meta: { k: "v" },
    });
    expect(u).toMatchObject({ label: "New", version: "1.1.0", tags: ["x"], meta: { k: "v" }, ref: p.ref });
    expect(u.createdAt).toEqual(p.createdAt);
    expect(u.updatedAt.getTime()).toBeGreaterThanOrEqual(p.updatedAt.getTime());
    const cleared = await ctx.repos.packs.updateMetadata(p.id, { confSchema: null, description: null });
    expect(cleared.confSchema).toBeNull();
    const up = await ctx.repos.packs.upsert({ ref: p.ref, label: "Upserted", version: "2.0.0" });
    expect(up.created).toBe(false);
    expect(up.row).toMatchObject({ id: p.id, label: "Upserted", version: "2.0.0" });
    const fresh = await ctx.repos.packs.upsert({ ref: uniqueRef("upd"), label: "N", version: "1.0.0" });
    expect(fresh.created).toBe(true);
  });

  it("pages in a stable ref order and filters by the installation's source type", async () => {
    const prefix = uniqueRef("pg");
    const names = ["m", "c", "x", "a", "q", "f", "k"].map((n) => `${prefix}-${n}`);
    for (const ref of names) {
      const p = await ctx.repos.packs.create({ ref, label: ref, version: "1.0.0" });
      const sourceType = ref.endsWith("-a") || ref.endsWith("-q") ? "archive" : "git";
      await ctx.repos.installations.create({
        packId: p.id,
        sourceType,
        checksum: SUM_A,
        installationMethod: "cli",
        storagePath: `/packs/${ref}`,
      });
    }
    const all = await ctx.repos.packs.list({ page: 1, pageSize: 500 });
    const mine = all.items.map((p) => p.ref).filter((r) => r.startsWith(`${prefix}-`));
    expect(mine).toEqual([...names].sort());
    const refsAll = all.items.map((p) => p.ref);
    expect(refsAll).toEqual([...refsAll].sort());

    const pages: string[] = [];
    const first = await ctx.repos.packs.list({ pageSize: 3 });
    expect(first.totalItems).toBe(all.totalItems);
    expect(first.totalPages).toBe(Math.ceil(all.totalItems / 3));
    for (let page = 1; page <= first.totalPages; page++)
      pages.push(...(await ctx.repos.packs.list({ page, pageSize: 3 })).items.map((p) => p.ref));
    expect(pages).toEqual(refsAll);
    expect((await ctx.repos.packs.list({ page: first.totalPages + 1, pageSize: 3 })).items).toEqual([]);

    const archives = await ctx.repos.packs.list({ sourceType: "archive", pageSize: 500 });
    expect(archives.items.map((p) => p.ref).filter((r) => r.startsWith(prefix))).toEqual([
      `${prefix}-a`,
      `${prefix}-q`,
    ]);
    await rejectsWith(ctx.repos.packs.list({ sourceType: "svn" as never }), "EINVALID_INPUT");
    await rejectsWith(ctx.repos.packs.list({ page: 0 }), "EINVALID_INPUT");
    await rejectsWith(ctx.repos.packs.list({ pageSize: 501 }), "EINVALID_INPUT");
  });

  it("deletes a pack together with its installation (cascade) but keeps its history", async () => {
    const p = await ctx.repos.packs.create({ ref: uniqueRef("del"), label: "D", version: "1.0.0" });
    const i = await ctx.repos.installations.create({
      packId: p.id,
      sourceType: "local_directory",
      checksum: SUM_A,
      installationMethod: "api",
      storagePath: "/p",
    });
    await ctx.repos.events.append({ packRef: p.ref, action: "install", outcome: "success" });
    expect((await ctx.repos.packs.deleteByRef(p.ref)).id).toBe(p.id);
    await rejectsWith(ctx.repos.installations.getById(i.id), "ENOTFOUND");
    expect(await ctx.repos.installations.exists(p.id)).toBe(false);
    expect(await ctx.repos.events.listByRef(p.ref)).toHaveLength(1);
  });
});
