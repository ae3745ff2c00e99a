import { createHash } from "node:crypto";
import type { Principal, TokenVerifier } from "./types";

/** The part of `@attune/db`'s token repository the API uses (docs/CONTRACTS.md). */
export interface TokenRepositoryLike {
  verify(secret: string): Promise<{
    token: { id: number | string; scopes: string[]; expiresAt?: Date | null };
    identity: { id: number; name: string | null } | null;
  } | null>;
}

export interface TokenCacheOptions {
  /**
   * How long a verified token is trusted without asking the database again (default 5 s; 0 turns
   * the cache off). A token revoked with `attune token revoke` is refused by a running API within
   * this time; an expiry is honoured to the millisecond regardless.
   */
  ttlMs?: number;
  /** verified tokens remembered at once (default 1,000); the oldest is forgotten first */
  maxEntries?: number;
  /** clock, for tests */
  now?: () => number;
}

export const DEFAULT_TOKEN_CACHE_TTL_MS = 5_000;
const DEFAULT_MAX_ENTRIES = 1_000;

interface Entry {
  principal: Principal;
  until: number;
}

/**
 * Adapt the token repository (hash compare, revoked/expired rejected there) to the auth middleware,
 * remembering verified tokens briefly. Every API request presents a token, and one database lookup
 * per request was most of a list request's cost. The cache is keyed by the secret's SHA-256 (the
 * secret itself is not kept), holds only successful verifications (an unknown or revoked token
 * always asks the database), and hands out copies so no request can alter another's principal.
 */
export function tokenVerifierFromRepository(
  tokens: TokenRepositoryLike,
  opts: TokenCacheOptions = {},
): TokenVerifier {
  const ttl = opts.ttlMs ?? DEFAULT_TOKEN_CACHE_TTL_MS;
  const max = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const now = opts.now ?? Date.now;
  const cache = new Map<string, Entry>();
  const copy = (p: Principal): Principal => ({ ...p, scopes: [...p.scopes] });

  return async (secret) => {
    const key = ttl > 0 ? createHash("sha256").update(secret, "utf8").digest("base64") : "";
    if (ttl > 0) {
      const hit = cache.get(key);
      if (hit && hit.until > now()) return copy(hit.principal);
      if (hit) cache.delete(key);
    }
    const found = await tokens.verify(secret);
    if (!found) return null;
    const principal: Principal = {
      tokenId: found.token.id,
      identityId: found.identity?.id ?? null,
      name: found.identity?.name ?? null,
      scopes: [...found.token.scopes],
    };
    if (ttl > 0) {
      const expires = found.token.expiresAt?.getTime() ?? Infinity;
      const until = Math.min(now() + ttl, expires);
      if (cache.size >= max) cache.delete(cache.keys().next().value as string);
      cache.set(key, { principal, until });
    }
    return copy(principal);
  };
}
