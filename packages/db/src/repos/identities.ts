import type { DbTx } from "../client";
import { guard, notFound } from "../errors";
import type { IdentityRow } from "../types";
import * as v from "../validate";

export class IdentityRepository {
  constructor(private readonly db: DbTx) {}

  /** ECONFLICT when the name is taken. */
  async create(input: { name: string }): Promise<IdentityRow> {
    const name = v.nonEmpty(input.name, "name");
    return guard(`create the identity "${name}"`, () => this.db.identity.create({ data: { name } }));
  }

  /** The identity with this name, created if missing. */
  async ensure(name: string): Promise<IdentityRow> {
    const n = v.nonEmpty(name, "name");
    return guard(`record the identity "${n}"`, () =>
      this.db.identity.upsert({ where: { name: n }, create: { name: n }, update: {} }),
    );
  }

  async getById(id: number): Promise<IdentityRow> {
    const r = await guard("get identity", () => this.db.identity.findUnique({ where: { id: v.id(id) } }));
    if (!r) throw notFound("identity", id);
    return r;
  }

  async findByName(name: string): Promise<IdentityRow | null> {
    return guard(`get identity ${name}`, () => this.db.identity.findUnique({ where: { name } }));
  }

  async list(): Promise<IdentityRow[]> {
    return guard("list identities", () => this.db.identity.findMany({ orderBy: [{ id: "asc" }] }));
  }

  /** Deletes its tokens (cascade); installations and events keep existing with installed_by/actor_id NULL. */
  async delete(id: number): Promise<IdentityRow> {
    return guard(`delete identity ${id}`, () => this.db.identity.delete({ where: { id: v.id(id) } }));
  }
}
