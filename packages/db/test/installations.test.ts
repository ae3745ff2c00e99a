import { expect, it } from "@jest/globals";
import { eachProvider, rejectsWith, SUM_A, SUM_B, uniqueRef, type ProviderContext } from "./helpers";
import type { PackInstallationInput } from "../src";

async function newPack(ctx: ProviderContext) {
  return ctx.repos.packs.create({ ref: uniqueRef("inst"), label: "I", version: "1.0.0" });
}

function install(packId: number, extra: Partial<PackInstallationInput> = {}): PackInstallationInput {
  return {
    packId,
    sourceType: "git",
    checksum: SUM_A,
    installationMethod: "cli",
    storagePath: "/packs/x",
    ...extra,
  };
}

eachProvider("PackInstallationRepository", (ctx) => {
  it("records an installation with every field and reads it back by id, pack id and ref", async () => {
    const p = await newPack(ctx);
    const who = await ctx.repos.identities.create({ name: uniqueRef("alice") });
    const installedAt = new Date("2026-01-02T03:04:05.678Z");
    const manifest = {
      "pack.yaml": { size: 12, sha256: "c".repeat(64) },
      "actions/a.py": { size: 3, sha256: "d".repeat(64) },
    };
    const row = await ctx.repos.installations.create(
      install(p.id, {
        sourceUrl: "https://git.example.com/core.git",
        sourceRef: "v1.0.0",
        resolvedCommit: "0123456789abcdef0123456789abcdef01234567",
        checksum: SUM_A.toUpperCase().replace("SHA256", "sha256"),
        checksumVerified: true,
        installedAt,
        installedBy: who.id,
        installationMethod: "api",
        meta: { force: true, registry: "main", expected_checksum: SUM_A },
        fileManifest: manifest,
      }),
    );
    expect(row).toMatchObject({
      packId: p.id,
      sourceType: "git",
      sourceRef: "v1.0.0",
      checksum: SUM_A, // lower-cased
      checksumVerified: true,
      installedAt,
      installedBy: who.id,
      installationMethod: "api",
      meta: { force: true, registry: "main", expected_checksum: SUM_A },
    });
    expect(JSON.stringify(row.fileManifest)).toBe(JSON.stringify(manifest));
    expect(await ctx.repos.installations.getById(row.id)).toEqual(row);
    expect(await ctx.repos.installations.getByPackId(p.id)).toEqual(row);
    expect(await ctx.repos.installations.getByRef(p.ref)).toEqual(row);
    expect(await ctx.repos.installations.exists(p.id)).toBe(true);
  });

  it("allows one installation per pack (unique pack_id -> ECONFLICT); upsert replaces it", async () => {
    const p = await newPack(ctx);
    const first = await ctx.repos.installations.create(install(p.id));
    const err = await rejectsWith(
      ctx.repos.installations.create(install(p.id, { checksum: SUM_B })),
      "ECONFLICT",
    );
    expect(err.details?.fields).toEqual(["pack_id"]);
    const up = await ctx.repos.installations.upsert(
      install(p.id, { checksum: SUM_B, sourceType: "archive" }),
    );
    expect(up.created).toBe(false);
    expect(up.row).toMatchObject({ id: first.id, checksum: SUM_B, sourceType: "archive" });
    const other = await newPack(ctx);
    expect((await ctx.repos.installations.upsert(install(other.id))).created).toBe(true);
  });

  it("rejects an installation of a pack that does not exist with ENOTFOUND", async () => {
    await rejectsWith(ctx.repos.installations.create(install(987_654)), "ENOTFOUND");
  });

  it("validates source_type, installation_method and checksum before writing", async () => {
    const p = await newPack(ctx);
    const bad = [
      [{ sourceType: "svn" }, "source_type"],
      [{ installationMethod: "ftp" }, "installation_method"],
      [{ checksum: "md5:abc" }, "checksum"],
      [{ checksum: `sha256:${"a".repeat(63)}` }, "checksum"],
      [{ storagePath: "" }, "storage_path"],
    ] as const;
    for (const [extra, field] of bad) {
      const err = await rejectsWith(
        ctx.repos.installations.create(install(p.id, extra as never)),
        "EINVALID_INPUT",
      );
      expect(err.details).toEqual({ field });
    }
    expect(await ctx.repos.installations.exists(p.id)).toBe(false);
  });

  it("updates the checksum, the verified flag and the file manifest", async () => {
    const p = await newPack(ctx);
    const row = await ctx.repos.installations.create(
      install(p.id, { fileManifest: { a: { size: 1, sha256: "e".repeat(64) } } }),
    );
    const u = await ctx.repos.installations.updateChecksum(row.id, { checksum: SUM_B, verified: true });
    expect(u).toMatchObject({ checksum: SUM_B, checksumVerified: true, fileManifest: row.fileManifest });
    const m = { b: { size: 2, sha256: "f".repeat(64) } };
    const u2 = await ctx.repos.installations.updateChecksum(row.id, {
      checksum: SUM_A,
      verified: false,
      fileManifest: m,
    });
    expect(u2).toMatchObject({ checksum: SUM_A, checksumVerified: false, fileManifest: m });
    await rejectsWith(
      ctx.repos.installations.updateChecksum(row.id, { checksum: "nope", verified: true }),
      "EINVALID_INPUT",
    );
    await rejectsWith(
      ctx.repos.installations.updateChecksum(999_999, { checksum: SUM_A, verified: true }),
      "ENOTFOUND",
    );
  });

  it("merges or replaces installation meta", async () => {
    const p = await newPack(ctx);
    const row = await ctx.repos.installations.create(
      install(p.id, { meta: { force: false, registry: "main" } }),
    );
    const merged = await ctx.repos.installations.updateMetadata(row.id, { force: true, last_verified: "x" });
    expect(merged.meta).toEqual({ force: true, registry: "main", last_verified: "x" });
    const replaced = await ctx.repos.installations.updateMetadata(row.id, { only: 1 }, { replace: true });
    expect(replaced.meta).toEqual({ only: 1 });
    await rejectsWith(ctx.repos.installations.updateMetadata(999_999, { a: 1 }), "ENOTFOUND");
  });

  it("sets installed_by to NULL when the identity is deleted", async () => {
    const p = await newPack(ctx);
    const who = await ctx.repos.identities.create({ name: uniqueRef("bob") });
    const row = await ctx.repos.installations.create(install(p.id, { installedBy: who.id }));
    await ctx.repos.events.append({
      packRef: p.ref,
      action: "install",
      outcome: "success",
      actorId: who.id,
      actorName: who.name,
    });
    await ctx.repos.identities.delete(who.id);
    const after = await ctx.repos.installations.getById(row.id);
    expect(after.installedBy).toBeNull();
    expect(after.checksum).toBe(row.checksum);
    const [event] = await ctx.repos.events.listByRef(p.ref);
    expect(event).toMatchObject({ actorId: null, actorName: who.name });
  });

  it("lists installations with their packs, in ref order, filtered by source type", async () => {
    const a = await newPack(ctx);
    const b = await newPack(ctx);
    await ctx.repos.installations.create(install(a.id, { sourceType: "registry" }));
    await ctx.repos.installations.create(install(b.id, { sourceType: "local_archive" }));
    const reg = await ctx.repos.installations.list({ sourceType: "registry", pageSize: 500 });
    expect(reg.items.map((x) => x.pack.ref)).toContain(a.ref);
    expect(reg.items.every((x) => x.installation.sourceType === "registry")).toBe(true);
    expect(reg.items.every((x) => x.installation.packId === x.pack.id)).toBe(true);
    const all = await ctx.repos.installations.list({ pageSize: 500 });
    const refs = all.items.map((x) => x.pack.ref);
    expect(refs).toEqual([...refs].sort());
    expect(all.totalItems).toBe(all.items.length);
  });

  it("deletes an installation without deleting its pack", async () => {
    const p = await newPack(ctx);
    const row = await ctx.repos.installations.create(install(p.id));
    await ctx.repos.installations.delete(row.id);
    expect(await ctx.repos.installations.findByPackId(p.id)).toBeNull();
    expect(await ctx.repos.packs.exists(p.ref)).toBe(true);
    await rejectsWith(ctx.repos.installations.delete(row.id), "ENOTFOUND");
  });
});
