import { invalid } from "./errors";

/**
 * JSON columns are TEXT on both providers: PostgreSQL jsonb would reorder object keys and SQLite
 * has no JSON type, while TEXT gives back exactly what was stored on both.
 */
export function encodeJson(value: unknown, field: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    throw Object.assign(invalid(field, `is not serialisable as JSON (${String((e as Error).message)})`), {
      cause: e,
    });
  }
  if (text === undefined) throw invalid(field, "is not serialisable as JSON");
  return text;
}

export function decodeJson<T>(text: string | null, fallback: T): T {
  if (text === null) return fallback;
  return JSON.parse(text) as T;
}
