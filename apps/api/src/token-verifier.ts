import type { Principal, TokenVerifier } from "./types";

/** The part of `@attune/db`'s token repository the API uses (docs/CONTRACTS.md). */
export interface TokenRepositoryLike {
  verify(secret: string): Promise<{
    token: { id: number | string; scopes: string[] };
    identity: { id: number; name: string | null } | null;
  } | null>;
}

/** Adapt the token repository (hash compare, revoked/expired rejected there) to the auth middleware. */
export function tokenVerifierFromRepository(tokens: TokenRepositoryLike): TokenVerifier {
  return async (secret) => {
    const found = await tokens.verify(secret);
    if (!found) return null;
    const principal: Principal = {
      tokenId: found.token.id,
      identityId: found.identity?.id ?? null,
      name: found.identity?.name ?? null,
      scopes: [...found.token.scopes],
    };
    return principal;
  };
}
