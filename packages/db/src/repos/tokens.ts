import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { DbTx } from "../client";
import { guard, invalid, notFound } from "../errors";
import { decodeJson, encodeJson } from "../json";
import type { IdentityRow, TokenInput, TokenRow, TokenScope } from "../types";
import { TOKEN_SCOPES } from "../types";
import * as v from "../validate";
import { IdentityRepository } from "./identities";

type TokenRecord = Awaited<ReturnType<DbTx["apiToken"]["create"]>>;

/** `att_` + 43 base64url characters (32 random bytes). The prefix makes leaked tokens greppable. */
const SECRET = /^att_[A-Za-z0-9_-]{43}$/;
const PREFIX_LENGTH = 10;
const LAST_USED_GRANULARITY_MS = 60_000;

function hashSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

function toTokenRow(r: TokenRecord): TokenRow {
  return {
    id: r.id,
    name: r.name,
    prefix: r.prefix,
    scopes: decodeJson(r.scopes, []),
    identityId: r.identityId,
    expiresAt: r.expiresAt,
    lastUsedAt: r.lastUsedAt,
    revokedAt: r.revokedAt,
    createdAt: r.createdAt,
  };
}

function scopesOf(scopes: TokenInput["scopes"]): TokenScope[] {
  if (scopes === undefined) return [...TOKEN_SCOPES];
  const list = v.stringList(scopes, "scopes").map((s) => v.oneOf(s, TOKEN_SCOPES, "scopes"));
  if (list.length === 0)
    throw invalid("scopes", "at least one scope is needed", `use any of: ${TOKEN_SCOPES.join(", ")}`);
  return [...new Set(list)];
}

export class TokenRepository {
  constructor(private readonly db: DbTx) {}

  /** Creates a token; `secret` is returned only here, only its SHA-256 is stored. */
  async create(input: TokenInput): Promise<{ row: TokenRow; secret: string }> {
    const name = v.nonEmpty(input.name, "name");
    const scopes = scopesOf(input.scopes);
    if (input.expiresAt && !(input.expiresAt instanceof Date && !isNaN(input.expiresAt.getTime())))
      throw invalid("expires_at", "must be a valid date");
    const identityId =
      input.identityId === undefined
        ? (await new IdentityRepository(this.db).ensure(name)).id
        : v.id(input.identityId, "identity_id");
    const secret = `att_${randomBytes(32).toString("base64url")}`;
    const r = await guard(`create token ${name}`, () =>
      this.db.apiToken.create({
        data: {
          name,
          tokenHash: hashSecret(secret),
          prefix: secret.slice(0, PREFIX_LENGTH),
          scopes: encodeJson(scopes, "scopes"),
          identityId,
          expiresAt: input.expiresAt ?? null,
        },
      }),
    );
    return { row: toTokenRow(r), secret };
  }

  /**
   * The token and identity a presented secret belongs to, or null when it is malformed, unknown,
   * revoked or expired. Rows are found by the secret's hash (an index lookup that reveals nothing
   * about stored secrets); the hashes are then compared in constant time. Records last use.
   */
  async verify(secret: string, now = new Date()): Promise<{ token: TokenRow; identity: IdentityRow } | null> {
    if (typeof secret !== "string" || !SECRET.test(secret)) return null;
    const hash = hashSecret(secret);
    const r = await guard("verify token", () =>
      this.db.apiToken.findUnique({ where: { tokenHash: hash }, include: { identity: true } }),
    );
    if (!r || !timingSafeEqual(Buffer.from(r.tokenHash, "hex"), Buffer.from(hash, "hex"))) return null;
    if (r.revokedAt || (r.expiresAt && r.expiresAt.getTime() <= now.getTime())) return null;
    // last use is recorded at most once a minute: every API request verifies a token, and a write
    // per request would contend for the embedded store's single writer
    let used: TokenRecord = r;
    if (!r.lastUsedAt || now.getTime() - r.lastUsedAt.getTime() >= LAST_USED_GRANULARITY_MS)
      used = await guard("record token use", () =>
        this.db.apiToken.update({ where: { id: r.id }, data: { lastUsedAt: now } }),
      );
    return { token: toTokenRow(used), identity: r.identity };
  }

  async list(): Promise<TokenRow[]> {
    const rows = await guard("list tokens", () => this.db.apiToken.findMany({ orderBy: [{ id: "asc" }] }));
    return rows.map(toTokenRow);
  }

  /** Revokes the token (ENOTFOUND if unknown); revoking twice keeps the first revocation time. */
  async revoke(id: number): Promise<TokenRow> {
    const tid = v.id(id);
    await guard(`revoke token ${tid}`, () =>
      this.db.apiToken.updateMany({ where: { id: tid, revokedAt: null }, data: { revokedAt: new Date() } }),
    );
    const r = await guard(`revoke token ${tid}`, () => this.db.apiToken.findUnique({ where: { id: tid } }));
    if (!r) throw notFound("token", tid);
    return toTokenRow(r);
  }
}
