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
  return missing ? `is required (${/^[aeiou]/.test(missing[1]) ? "an" : "a"} ${missing[1]})` : issue.message;
}

/** The path of the field an issue is about: for an unknown key, the key itself (the first one). */
export function issuePath(issue: { path: PropertyKey[]; code?: string; keys?: string[] }): PropertyKey[] {
  return issue.code === "unrecognized_keys" && issue.keys?.length
    ? [...issue.path, issue.keys[0]]
    : issue.path;
}
