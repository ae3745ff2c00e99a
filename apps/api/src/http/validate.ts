import { z } from "zod";
import { HttpProblem } from "./problem";

/** Turn zod issues into `[{field, message}]`; unknown keys are reported one field each. */
export function issuesToErrors(
  issues: z.core.$ZodIssue[],
  prefix?: string,
): Array<{ field: string; message: string }> {
  const errors: Array<{ field: string; message: string }> = [];
  for (const issue of issues) {
    const at = issue.path.map(String);
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        errors.push({ field: [...at, key].join("."), message: "unknown field; remove it" });
      }
      continue;
    }
    const field = at.length ? at.join(".") : (prefix ?? "body");
    errors.push({ field, message: issue.message });
  }
  return errors;
}

/** Parse `value` or throw a 400 problem naming every offending field. */
export function parseOr400<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const result = schema.safeParse(value, {
    error: (issue) => (issue.code === "invalid_type" && issue.input === undefined ? "required" : undefined),
  });
  if (result.success) return result.data;
  const errors = issuesToErrors(result.error.issues, where);
  const fields = [...new Set(errors.map((e) => e.field))].join(", ");
  throw new HttpProblem(400, "EINVALID_INPUT", `invalid ${where}: ${fields}`, { errors });
}
