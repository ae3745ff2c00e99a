/**
 * The message of a schema issue as this product shows it: zod says a missing key is
 * "Invalid input: expected string, received undefined"; users read "is required (a string)". An
 * unknown key is named by issuePath (zod puts it in `keys`, not in the path).
 */
export function issueText(issue: { message: string; code?: string; keys?: string[] }): string {
  if (issue.code === "unrecognized_keys" && issue.keys?.length) {
    const others = issue.keys.slice(1).map((k) => JSON.stringify(k));
    return `is not a known field${others.length ? ` (nor ${others.join(", ")})` : ""}; remove it or check its spelling`;
  }
  const missing = /^Invalid input: expected (\w+), received undefined$/.exec(issue.message);
  if (missing) return `is required (${/^[aeiou]/.test(missing[1]) ? "an" : "a"} ${missing[1]})`;
  // "Invalid input: expected boolean, received string": said in the words of a YAML or JSON author
  const wrong = /^Invalid input: expected (\w+), received (\w+)$/.exec(issue.message);
  if (wrong) return `must be ${KINDS[wrong[1]] ?? `a ${wrong[1]}`}, not ${got(wrong[2])}`;
  return issue.message;
}

const KINDS: Record<string, string> = {
  boolean: "true or false",
  string: "a string",
  number: "a number",
  int: "a whole number",
  array: "a list",
  object: "a mapping (key: value)",
  record: "a mapping of names to values",
};

function got(type: string): string {
  if (type === "null") return "empty (null)";
  if (type === "array") return "a list";
  if (type === "object") return "a mapping";
  return `${/^[aeiou]/.test(type) ? "an" : "a"} ${type}`;
}

/** The path of the field an issue is about: for an unknown key, the key itself (the first one). */
export function issuePath(issue: { path: PropertyKey[]; code?: string; keys?: string[] }): PropertyKey[] {
  return issue.code === "unrecognized_keys" && issue.keys?.length
    ? [...issue.path, issue.keys[0]]
    : issue.path;
}
