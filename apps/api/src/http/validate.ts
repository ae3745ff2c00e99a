import type { Request } from "express";
import { z } from "zod";
import { HttpProblem } from "./problem";

/** At most this many entries in `errors`, then one saying how many more were refused. */
export const MAX_ERRORS = 20;
/** At most this many fields named in `detail`, then "and N more". */
const NAMED_IN_DETAIL = 5;

type FieldError = { field: string; message: string };

/**
 * Turn zod issues into `[{field, message}]`, unknown keys one field each, keeping at most `max`
 * entries: a body of 700k unknown keys must not become 700k messages (or a 46 MB answer).
 * `entries` counts every entry there would have been, `total` the distinct fields among them, and
 * `fields` names the first few of those for the detail.
 */
export function issuesToErrors(
  issues: z.core.$ZodIssue[],
  prefix?: string,
  max = MAX_ERRORS,
): { errors: FieldError[]; entries: number; total: number; fields: string[] } {
  const errors: FieldError[] = [];
  let entries = 0;
  const fields = new Set<string>();
  // distinct fields: each unknown key is one (object keys are unique, and none is in the schema);
  // the other issues are the schema's own few fields, counted once each
  const known = new Set<string>();
  let unknown = 0;
  const add = (field: string, message: string) => {
    entries++;
    if (errors.length < max) errors.push({ field, message });
    if (fields.size < NAMED_IN_DETAIL) fields.add(field);
  };
  for (const issue of issues) {
    const at = issue.path.map(String);
    if (issue.code === "unrecognized_keys") {
      unknown += issue.keys.length;
      // the keys past what is shown are only counted
      const shown = Math.min(issue.keys.length, Math.max(max - errors.length, NAMED_IN_DETAIL));
      for (let i = 0; i < shown; i++) add([...at, issue.keys[i]].join("."), "unknown field; remove it");
      entries += issue.keys.length - shown;
      continue;
    }
    const field = at.length ? at.join(".") : (prefix ?? "body");
    known.add(field);
    add(field, issue.message);
  }
  return { errors, entries, total: known.size + unknown, fields: [...fields] };
}

/** What a body that is not an object should have been, by route: a verify takes no options. */
function objectHint(path: string): string {
  return /\/verify\/?$/.test(path)
    ? "send no body, or an empty JSON object {}"
    : 'send a JSON object, e.g. {"source": "…"}';
}

/** The one answer to a body that is valid JSON but not an object (an array, null, a string, …). */
export function bodyNotAnObject(type: string, path: string): HttpProblem {
  return new HttpProblem(400, "EINVALID_INPUT", `the request body must be a JSON object, not ${type}`, {
    errors: [{ field: "body", message: `expected object, received ${type}` }],
    hint: objectHint(path),
  });
}

function jsonType(value: unknown): string {
  return value === null ? "null" : Array.isArray(value) ? "array" : typeof value;
}

/** Parse `value` or throw a 400 problem naming the offending fields (the first of them, when many). */
export function parseOr400<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const result = schema.safeParse(value, {
    error: (issue) => {
      if (issue.code === "invalid_type" && issue.input === undefined) return "required";
      // the simple query parser makes a parameter given twice an array: say that, not "received array"
      if (where === "query" && Array.isArray(issue.input)) return "given more than once; give it once";
      // zod's own message lists every key: the keys are named one by one in `errors` instead
      if (issue.code === "unrecognized_keys") return "unknown fields";
      return undefined;
    },
  });
  if (result.success) return result.data;
  const { errors, entries, total, fields } = issuesToErrors(result.error.issues, where);
  if (entries > errors.length)
    errors.push({
      field: where,
      message: `${entries - errors.length} more refused fields, not listed (only the first ${errors.length} are)`,
    });
  const more = total > fields.length ? ` and ${total - fields.length} more` : "";
  throw new HttpProblem(400, "EINVALID_INPUT", `invalid ${where}: ${fields.join(", ")}${more}`, {
    errors,
    hint: `fix the ${where === "body" ? "fields" : "parameters"} listed in errors (each with what it must be); GET /api/v1/openapi.json describes them all`,
  });
}

/**
 * Parse a JSON request body. A request without one (no Content-Length, or 0, and no
 * Transfer-Encoding) is read as `{}`, whatever its Content-Type says, so a missing body is the
 * missing fields it lacks (`source: required`), not a media type error; a body that is not an
 * object is refused in one way whatever its type.
 */
export function parseBodyOr400<S extends z.ZodType>(schema: S, req: Request): z.output<S> {
  const body: unknown = req.body === undefined ? {} : req.body;
  const type = jsonType(body);
  if (type !== "object") throw bodyNotAnObject(type, req.path);
  return parseOr400(schema, body, "body");
}
