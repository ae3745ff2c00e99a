/**
 * The message of a schema issue as this product shows it: zod says a missing key is
 * "Invalid input: expected string, received undefined"; users read "is required (a string)".
 */
export function issueText(issue: { message: string }): string {
  const missing = /^Invalid input: expected (\w+), received undefined$/.exec(issue.message);
  return missing ? `is required (${/^[aeiou]/.test(missing[1]) ? "an" : "a"} ${missing[1]})` : issue.message;
}
