import { createHash } from "node:crypto";
import { expect, it } from "@jest/globals";
import { eachProvider, rejectsWith, uniqueRef } from "./helpers";

eachProvider("IdentityRepository and TokenRepository", (ctx) => {
  it("creates identities with unique names", async () => {
    const name = uniqueRef("carol");
    const id = await ctx.repos.identities.create({ name });
    expect(await ctx.repos.identities.getById(id.id)).toEqual(id);
    expect(await ctx.repos.identities.findByName(name)).toEqual(id);
    await rejectsWith(ctx.repos.identities.create({ name }), "ECONFLICT");
    expect((await ctx.repos.identities.ensure(name)).id).toBe(id.id);
    expect((await ctx.repos.identities.list()).map((i) => i.name)).toContain(name);
    await rejectsWith(ctx.repos.identities.getById(999_999), "ENOTFOUND");
  });

  it("returns the secret once, stores only its SHA-256, and verifies it", async () => {
    const name = uniqueRef("ci");
    const { row, secret } = await ctx.repos.tokens.create({ name, scopes: ["packs:read"] });
    expect(secret).toMatch(/^att_[A-Za-z0-9_-]{43}$/);
    expect(row).toMatchObject({
      name,
      scopes: ["packs:read"],
      prefix: secret.slice(0, 10),
      revokedAt: null,
      lastUsedAt: null,
    });
    expect(JSON.stringify(row)).not.toContain(secret);
    const listed = (await ctx.repos.tokens.list()).find((t) => t.id === row.id)!;
    expect(JSON.stringify(listed)).not.toContain(secret.slice(10));
    // the stored column is the hash, never the secret
    const stored = await ctx.db.apiToken.findUnique({ where: { id: row.id } });
    expect(stored!.tokenHash).toBe(createHash("sha256").update(secret).digest("hex"));

    const ok = await ctx.repos.tokens.verify(secret);
    expect(ok?.token.id).toBe(row.id);
    expect(ok?.identity.name).toBe(name); // default identity: named like the token
    expect(ok?.token.lastUsedAt).toBeInstanceOf(Date);
    // last use is recorded at most once a minute
    const t0 = ok!.token.lastUsedAt!;
    expect(
      (await ctx.repos.tokens.verify(secret, new Date(t0.getTime() + 30_000)))?.token.lastUsedAt,
    ).toEqual(t0);
    const later = new Date(t0.getTime() + 61_000);
    expect((await ctx.repos.tokens.verify(secret, later))?.token.lastUsedAt).toEqual(later);
  });

  it("rejects unknown, malformed, revoked and expired secrets", async () => {
    const { secret } = await ctx.repos.tokens.create({ name: uniqueRef("t") });
    const flipped = secret.slice(0, -1) + (secret.endsWith("A") ? "B" : "A");
    expect(await ctx.repos.tokens.verify(flipped)).toBeNull();
    expect(await ctx.repos.tokens.verify("")).toBeNull();
    expect(await ctx.repos.tokens.verify(`${secret} `)).toBeNull();
    expect(await ctx.repos.tokens.verify(createHash("sha256").update(secret).digest("hex"))).toBeNull();

    const r = await ctx.repos.tokens.create({ name: uniqueRef("t") });
    const revoked = await ctx.repos.tokens.revoke(r.row.id);
    expect(revoked.revokedAt).toBeInstanceOf(Date);
    expect(await ctx.repos.tokens.verify(r.secret)).toBeNull();
    expect((await ctx.repos.tokens.revoke(r.row.id)).revokedAt).toEqual(revoked.revokedAt);
    await rejectsWith(ctx.repos.tokens.revoke(999_999), "ENOTFOUND");

    const e = await ctx.repos.tokens.create({
      name: uniqueRef("t"),
      expiresAt: new Date("2030-01-01T00:00:00Z"),
    });
    expect(await ctx.repos.tokens.verify(e.secret, new Date("2029-12-31T23:59:59Z"))).not.toBeNull();
    expect(await ctx.repos.tokens.verify(e.secret, new Date("2030-01-01T00:00:00Z"))).toBeNull();
  });

  it("defaults to every scope and validates scopes", async () => {
    const { row } = await ctx.repos.tokens.create({ name: uniqueRef("all") });
    expect(row.scopes).toEqual(["packs:read", "packs:install", "packs:delete"]);
    const e1 = await rejectsWith(
      ctx.repos.tokens.create({ name: "x", scopes: ["packs:admin" as never] }),
      "EINVALID_INPUT",
    );
    expect(e1.details).toEqual({ field: "scopes" });
    await rejectsWith(ctx.repos.tokens.create({ name: "x", scopes: [] }), "EINVALID_INPUT");
    await rejectsWith(ctx.repos.tokens.create({ name: "x", identityId: 999_999 }), "ENOTFOUND");
  });

  it("deletes an identity's tokens with it", async () => {
    const who = await ctx.repos.identities.create({ name: uniqueRef("dave") });
    const { row, secret } = await ctx.repos.tokens.create({ name: uniqueRef("d"), identityId: who.id });
    expect(row.identityId).toBe(who.id);
    await ctx.repos.identities.delete(who.id);
    expect(await ctx.repos.tokens.verify(secret)).toBeNull();
    expect((await ctx.repos.tokens.list()).map((t) => t.id)).not.toContain(row.id);
  });
});
