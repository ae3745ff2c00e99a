/**
 * Replaces `node:assert` inside the bundled yargs (see tsup.config.ts). yargs imports it only for
 * two internal invariant checks (`strictEqual`, `notStrictEqual`), and loading Node's assert module
 * costs ~6 ms of every command's start-up on the 2-core target machine.
 */
export function strictEqual(actual: unknown, expected: unknown, message?: string): void {
  if (actual !== expected) throw new Error(message ?? `expected ${String(expected)}, got ${String(actual)}`);
}

export function notStrictEqual(actual: unknown, expected: unknown, message?: string): void {
  if (actual === expected) throw new Error(message ?? `unexpected ${String(actual)}`);
}
