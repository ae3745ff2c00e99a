import type { DbTx } from "../client";
import { guard, notFound } from "../errors";
import { decodeJson, encodeJson } from "../json";
import type { Page, PackInput, PackRow, PackUpdate, PageRequest, SourceType } from "../types";
import { SOURCE_TYPES } from "../types";
import * as v from "../validate";

type PackRecord = Awaited<ReturnType<DbTx["pack"]["create"]>>;

export function toPackRow(r: PackRecord): PackRow {
  return {
    id: r.id,
    ref: r.ref,
    label: r.label,
    description: r.description,
    version: r.version,
    tags: decodeJson(r.tags, []),
    confSchema: decodeJson(r.confSchema, null),
    meta: decodeJson(r.meta, {}),
    runtimeDeps: decodeJson(r.runtimeDeps, []),
    dependencies: decodeJson(r.dependencies, []),
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}

/** Column values of the fields present in `input` (validated); absent fields are left out. */
export function packColumnValues(input: PackUpdate) {
  const c: {
    label?: string;
    description?: string | null;
    version?: string;
    tags?: string;
    confSchema?: string | null;
    meta?: string;
    runtimeDeps?: string;
    dependencies?: string;
  } = {};
  if (input.label !== undefined) c.label = v.nonEmpty(input.label, "label");
  if (input.description !== undefined) c.description = input.description;
  if (input.version !== undefined) c.version = v.nonEmpty(input.version, "version");
  if (input.tags !== undefined) c.tags = encodeJson(v.stringList(input.tags, "tags"), "tags");
  if (input.confSchema !== undefined)
    c.confSchema = input.confSchema === null ? null : encodeJson(input.confSchema, "conf_schema");
  if (input.meta !== undefined) c.meta = encodeJson(v.plainObject(input.meta, "meta"), "meta");
  if (input.runtimeDeps !== undefined)
    c.runtimeDeps = encodeJson(v.stringList(input.runtimeDeps, "runtime_deps"), "runtime_deps");
  if (input.dependencies !== undefined)
    c.dependencies = encodeJson(v.stringList(input.dependencies, "dependencies"), "dependencies");
  return c;
}

export interface PackFilter extends PageRequest {
  /** only packs whose installation has this source type */
  sourceType?: SourceType;
}

/** The column values of a new pack (ref, label and version required). */
export function newPackValues(input: PackInput) {
  return {
    ...packColumnValues(input),
    ref: v.nonEmpty(input.ref, "ref"),
    label: v.nonEmpty(input.label, "label"),
    version: v.nonEmpty(input.version, "version"),
  };
}

export class PackRepository {
  constructor(private readonly db: DbTx) {}

  async create(input: PackInput): Promise<PackRow> {
    const data = newPackValues(input);
    const { ref } = data;
    return toPackRow(await guard(`create pack ${ref}`, () => this.db.pack.create({ data })));
  }

  /** Create the pack, or update every given field of the existing pack with this ref. */
  async upsert(input: PackInput): Promise<{ row: PackRow; created: boolean }> {
    const existing = await this.findByRef(input.ref);
    if (!existing) return { row: await this.create(input), created: true };
    return { row: await this.updateMetadata(existing.id, input), created: false };
  }

  async getById(id: number): Promise<PackRow> {
    const r = await guard("get pack", () => this.db.pack.findUnique({ where: { id: v.id(id) } }));
    if (!r) throw notFound("pack", id);
    return toPackRow(r);
  }

  async findByRef(ref: string): Promise<PackRow | null> {
    const r = await guard(`get pack ${ref}`, () => this.db.pack.findUnique({ where: { ref } }));
    return r ? toPackRow(r) : null;
  }

  async getByRef(ref: string): Promise<PackRow> {
    const row = await this.findByRef(ref);
    if (!row) throw notFound("pack", ref);
    return row;
  }

  async exists(ref: string): Promise<boolean> {
    return (await guard(`find pack ${ref}`, () => this.db.pack.count({ where: { ref } }))) > 0;
  }

  /** Packs ordered by ref (unique, so pages are stable). */
  async list(filter: PackFilter = {}): Promise<Page<PackRow>> {
    const { page, pageSize, skip } = v.pageOf(filter);
    const where =
      filter.sourceType === undefined
        ? {}
        : { installation: { is: { sourceType: v.oneOf(filter.sourceType, SOURCE_TYPES, "source_type") } } };
    const [rows, total] = await guard("list packs", () =>
      Promise.all([
        this.db.pack.findMany({ where, orderBy: [{ ref: "asc" }], skip, take: pageSize }),
        this.db.pack.count({ where }),
      ]),
    );
    return v.toPage(rows.map(toPackRow), total, page, pageSize);
  }

  async updateMetadata(id: number, patch: PackUpdate): Promise<PackRow> {
    const data = packColumnValues(patch);
    return toPackRow(
      await guard(`update pack ${id}`, () => this.db.pack.update({ where: { id: v.id(id) }, data })),
    );
  }

  /** Deletes the pack and (cascade) its installation; install events are kept. */
  async delete(id: number): Promise<PackRow> {
    return toPackRow(
      await guard(`delete pack ${id}`, () => this.db.pack.delete({ where: { id: v.id(id) } })),
    );
  }

  async deleteByRef(ref: string): Promise<PackRow> {
    return toPackRow(await guard(`delete pack ${ref}`, () => this.db.pack.delete({ where: { ref } })));
  }
}
