import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { tokenVerifierFromRepository, type TokenRepositoryLike } from "../src/index";
import { openTestApi, type TestApi } from "./support/api";

let api: TestApi;
beforeAll(async () => {
  api = await openTestApi();
});
afterAll(async () => {
  await api?.close();
});

/** The real token repository, counting how often the database is asked. */
function counting(repo: TokenRepositoryLike): TokenRepositoryLike & { calls: number } {
  const wrapped = {
    calls: 0,
    verify: async (secret: string) => {
      wrapped.calls += 1;
      return repo.verify(secret);
    },
  };
  return wrapped;
}

describe("verified-token cache", () => {
  it("asks the database once per token per TTL, and again once the TTL has passed", async () => {
    const repo = counting(api.repos.tokens);
    let clock = 1_000;
    const verify = tokenVerifierFromRepository(repo, { ttlMs: 5_000, now: () => clock });
    const first = await verify(api.tokens.read);
    expect(first).toMatchObject({ scopes: ["packs:read"], name: "reader" });
    for (let i = 0; i < 10; i++) expect(await verify(api.tokens.read)).toEqual(first);
    expect(repo.calls).toBe(1);
    clock += 5_000;
    expect(await verify(api.tokens.read)).toEqual(first);
    expect(repo.calls).toBe(2);
  });

  it("never caches a refusal: an unknown or malformed token asks the database every time", async () => {
    const repo = counting(api.repos.tokens);
    const verify = tokenVerifierFromRepository(repo);
    const unknown = `att_${"A".repeat(43)}`;
    expect(await verify(unknown)).toBeNull();
    expect(await verify(unknown)).toBeNull();
    expect(await verify("not-a-token")).toBeNull();
    expect(repo.calls).toBe(3);
  });

  it("honours a token's expiry to the millisecond even inside the TTL", async () => {
    const { secret } = await api.repos.tokens.create({
      name: "expires-soon",
      scopes: ["packs:read"],
      expiresAt: new Date(Date.now() + 400),
    });
    const verify = tokenVerifierFromRepository(api.repos.tokens, { ttlMs: 60_000 });
    expect(await verify(secret)).not.toBeNull();
    await new Promise((r) => setTimeout(r, 500));
    expect(await verify(secret)).toBeNull();
  });

  it("hands out copies: a request that edits its principal changes nothing for the next", async () => {
    const verify = tokenVerifierFromRepository(api.repos.tokens);
    const p = await verify(api.tokens.read);
    p!.scopes.push("packs:delete");
    expect((await verify(api.tokens.read))!.scopes).toEqual(["packs:read"]);
  });

  it("keeps at most maxEntries tokens, forgetting the oldest first", async () => {
    const repo = counting(api.repos.tokens);
    const verify = tokenVerifierFromRepository(repo, { maxEntries: 2 });
    await verify(api.tokens.read);
    await verify(api.tokens.install);
    await verify(api.tokens.delete); // evicts read
    expect(repo.calls).toBe(3);
    await verify(api.tokens.delete);
    await verify(api.tokens.install);
    expect(repo.calls).toBe(3);
    await verify(api.tokens.read);
    expect(repo.calls).toBe(4);
  });
});
