import { AttuneError, ErrorCodes } from "@attune/pack-storage";

interface PrismaLikeError {
  code?: unknown;
  message?: unknown;
  meta?: {
    modelName?: string;
    driverAdapterError?: { cause?: { constraint?: { fields?: string[] }; originalCode?: string } };
  };
}

/** Fields named by a unique violation, unquoted (PostgreSQL reports them as `"field"`). */
function conflictFields(e: PrismaLikeError): string[] {
  const fields = e.meta?.driverAdapterError?.cause?.constraint?.fields ?? [];
  return fields.map((f) => f.replace(/^"|"$/g, ""));
}

/**
 * The direct paths (better-sqlite3, pg) report the driver's own codes; fold the few that mean the
 * same as a Prisma code into one name so both paths give the same typed error.
 */
function driverCode(code: unknown): unknown {
  if (typeof code !== "string") return code;
  if (code === "SQLITE_CONSTRAINT_FOREIGNKEY" || code === "23503") return "FOREIGN_KEY";
  if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) return "BUSY";
  return code;
}

/**
 * Turn a Prisma/driver error into the product's typed error. Branches on Prisma's stable codes:
 * with driver adapters, P2002 is the only reliable sign of a unique violation (no meta.target).
 */
export function toDbError(e: unknown, action: string): AttuneError {
  if (e instanceof AttuneError) return e;
  const err = (e ?? {}) as PrismaLikeError;
  switch (driverCode(err.code)) {
    case "P2002": {
      const fields = conflictFields(err);
      const what = fields.length ? ` (${fields.join(", ")})` : "";
      return new AttuneError(
        ErrorCodes.ECONFLICT,
        `${action}: a row with the same unique value${what} already exists`,
        {
          cause: e,
          details: { fields },
        },
      );
    }
    case "P2025":
      return new AttuneError(ErrorCodes.ENOTFOUND, `${action}: no such row`, { cause: e });
    case "P2003":
    case "FOREIGN_KEY":
      return new AttuneError(ErrorCodes.ENOTFOUND, `${action}: a referenced row does not exist`, {
        cause: e,
      });
    case "P1008":
    case "P2028":
    case "BUSY":
      return new AttuneError(
        ErrorCodes.ELOCKED,
        `${action}: the database is busy (another writer holds it)`,
        {
          cause: e,
          hint: "retry; if it persists, look for a stuck attune process using the same database",
        },
      );
  }
  return new AttuneError(ErrorCodes.EDATABASE, `${action}: database error`, {
    cause: e,
    hint: "see the cause; run `attune db migrate` if the schema may be out of date",
  });
}

export function notFound(what: string, key: string | number): AttuneError {
  return new AttuneError(ErrorCodes.ENOTFOUND, `${what} ${JSON.stringify(key)} not found`, {
    details: { [what]: key },
  });
}

export function invalid(field: string, message: string, hint?: string): AttuneError {
  return new AttuneError(ErrorCodes.EINVALID_INPUT, `${field}: ${message}`, {
    hint,
    details: { field },
  });
}

export function isPrismaError(e: unknown): boolean {
  const name = (e as { constructor?: { name?: string } } | null)?.constructor?.name ?? "";
  return name.startsWith("PrismaClient") || /^P\d{4}$/.test(String((e as { code?: unknown } | null)?.code));
}

/** Run one database call, mapping its failure to a typed error. */
export async function guard<T>(action: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw toDbError(e, action);
  }
}
