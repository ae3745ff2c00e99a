import { invalid } from "./errors";
import type { Page, PageRequest } from "./types";

export function oneOf<T extends string>(value: unknown, allowed: readonly T[], field: string): T {
  if (typeof value === "string" && (allowed as readonly string[]).includes(value)) return value as T;
  throw invalid(field, `invalid value ${JSON.stringify(value)}`, `use one of: ${allowed.join(", ")}`);
}

export function optionalOneOf<T extends string>(
  value: unknown,
  allowed: readonly T[],
  field: string,
): T | null {
  return value === undefined || value === null ? null : oneOf(value, allowed, field);
}

export function nonEmpty(value: unknown, field: string): string {
  if (typeof value !== "string" || value.trim() === "") throw invalid(field, "must be a non-empty string");
  return value;
}

export function stringList(value: unknown, field: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string"))
    throw invalid(field, "must be an array of strings");
  return value;
}

export function plainObject(value: unknown, field: string): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) throw invalid(field, "must be a JSON object");
  return value as Record<string, unknown>;
}

const CHECKSUM = /^sha256:[0-9a-f]{64}$/;

export function checksum(value: unknown, field = "checksum"): string {
  const v = typeof value === "string" ? value.toLowerCase() : value;
  if (typeof v !== "string" || !CHECKSUM.test(v))
    throw invalid(
      field,
      `invalid checksum ${JSON.stringify(value)}`,
      "expected sha256: followed by 64 hex digits",
    );
  return v;
}

export function id(value: unknown, field = "id"): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1)
    throw invalid(field, `invalid id ${JSON.stringify(value)}`, "expected a positive integer");
  return value;
}

export const MAX_PAGE_SIZE = 500;

export function pageOf(req: PageRequest = {}): { page: number; pageSize: number; skip: number } {
  const page = req.page ?? 1;
  const pageSize = req.pageSize ?? 50;
  if (!Number.isSafeInteger(page) || page < 1) throw invalid("page", "must be an integer >= 1");
  if (!Number.isSafeInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE)
    throw invalid("page_size", `must be an integer from 1 to ${MAX_PAGE_SIZE}`);
  return { page, pageSize, skip: (page - 1) * pageSize };
}

export function toPage<T>(items: T[], totalItems: number, page: number, pageSize: number): Page<T> {
  return { items, page, pageSize, totalItems, totalPages: Math.ceil(totalItems / pageSize) };
}
