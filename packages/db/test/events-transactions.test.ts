import { expect, it } from "@jest/globals";
import { withTransaction } from "../src";
import { eachProvider, rejectsWith, SUM_A, uniqueRef } from "./helpers";

eachProvider("InstallEventRepository and withTransaction", (ctx) => {
  it("appends events and lists them by ref, newest first", async () => {
    const ref = uniqueRef("ev");
    const actions = ["install", "verify", "upgrade", "failed", "uninstall"] as const;
    for (const action of actions)
      await ctx.repos.events.append({
        packRef: ref,
        version: "1.0.0",
        action,
        outcome: action === "failed" ? "failure" : "success",
        sourceType: "git",
        sourceUrl: "https://x/y.git",
        method: "cli",
        error: action === "failed" ? "EINTEGRITY: checksum mismatch" : null,
        details: { step: action, n: [1, 2] },
      });
    await ctx.repos.events.append({ packRef: `${ref}-other`, action: "install", outcome: "success" });
    const history = await ctx.repos.events.listByRef(ref);
    expect(history.map((e) => e.action)).toEqual([...actions].reverse());
    expect(history[1]).toMatchObject({
      outcome: "failure",
      error: "EINTEGRITY: checksum mismatch",
      details: { step: "failed", n: [1, 2] },
    });
    expect(history.every((e, i) => i === 0 || e.createdAt <= history[i - 1].createdAt)).toBe(true);
    expect(await ctx.repos.events.listByRef(ref, { limit: 2 })).toHaveLength(2);
    expect(await ctx.repos.events.listByRef("never-installed")).toEqual([]);
  });

  it("validates enum-like event fields", async () => {
    const base = { packRef: uniqueRef("ev"), action: "install", outcome: "success" } as const;
    for (const [extra, field] of [
      [{ action: "explode" }, "action"],
      [{ outcome: "maybe" }, "outcome"],
      [{ sourceType: "ftp" }, "source_type"],
      [{ method: "carrier-pigeon" }, "method"],
    ] as const) {
      const err = await rejectsWith(
        ctx.repos.events.append({ ...base, ...(extra as object) } as never),
        "EINVALID_INPUT",
      );
      expect(err.details).toEqual({ field });
    }
    expect(await ctx.repos.events.listByRef(base.packRef)).toEqual([]);
  });

  it("commits pack + installation + event together", async () => {
    const ref = uniqueRef("tx");
    const result = await withTransaction(ctx.db, async (tx) => {
      const pack = await tx.packs.create({ ref, label: "T", version: "1.0.0" });
      const installation = await tx.installations.create({
        packId: pack.id,
        sourceType: "archive",
        checksum: SUM_A,
        installationMethod: "api",
        storagePath: "/t",
      });
      await tx.events.append({ packRef: ref, action: "install", outcome: "success" });
      return { pack, installation };
    });
    expect(await ctx.repos.installations.getByRef(ref)).toEqual(result.installation);
    expect(await ctx.repos.events.listByRef(ref)).toHaveLength(1);
  });

  it("keeps nothing when the function throws after writing", async () => {
    const ref = uniqueRef("tx");
    const boom = new Error("boom after writes");
    await expect(
      withTransaction(ctx.db, async (tx) => {
        const pack = await tx.packs.create({ ref, label: "T", version: "1.0.0" });
        await tx.installations.create({
          packId: pack.id,
          sourceType: "git",
          checksum: SUM_A,
          installationMethod: "cli",
          storagePath: "/t",
        });
        await tx.events.append({ packRef: ref, action: "install", outcome: "success" });
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(await ctx.repos.packs.exists(ref)).toBe(false);
    expect(await ctx.repos.events.listByRef(ref)).toEqual([]);
  });

  it("keeps nothing when a write inside fails (typed error passes through)", async () => {
    const existing = await ctx.repos.packs.create({ ref: uniqueRef("tx"), label: "E", version: "1.0.0" });
    const ref = uniqueRef("tx");
    await rejectsWith(
      withTransaction(ctx.db, async (tx) => {
        await tx.packs.create({ ref, label: "T", version: "1.0.0" });
        await tx.events.append({ packRef: ref, action: "install", outcome: "success" });
        await tx.packs.create({ ref: existing.ref, label: "dup", version: "1.0.0" });
      }),
      "ECONFLICT",
    );
    expect(await ctx.repos.packs.exists(ref)).toBe(false);
    expect(await ctx.repos.events.listByRef(ref)).toEqual([]);
    expect((await ctx.repos.packs.getByRef(existing.ref)).label).toBe("E");
  });
});
