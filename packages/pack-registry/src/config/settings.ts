import { AttuneError, ErrorCodes } from "@attune/pack-storage";

/**
 * A setting's number: a number, or a string of digits (the environment's are strings, and
 * config.yaml may quote one); anything else (a list, a mapping, true) is NaN. `String([2])` is
 * "2": a list must not pass as its only item.
 */
export function wholeNumber(raw: unknown): number {
  if (typeof raw === "number") return raw;
  return typeof raw === "string" && /^\d+$/.test(raw) ? Number(raw) : NaN;
}

/**
 * A positive whole-number setting: the environment variable `name` wins over the config.yaml key
 * `key`; absent from both, undefined (the caller's default). Anything but a positive integer is
 * ECONFIG naming the variable or key that held it, with an example of a valid value.
 */
export function positiveSetting(
  env: NodeJS.ProcessEnv,
  name: string,
  cfg: Record<string, unknown>,
  key: string,
  what: { unit: "bytes" | "files"; fallback: number },
): number | undefined {
  const fromEnv = env[name]?.trim();
  const raw = fromEnv ? fromEnv : cfg[key];
  if (raw === undefined || raw === null) return undefined;
  const value = wholeNumber(raw);
  if (Number.isSafeInteger(value) && value > 0) return value;
  const field = fromEnv ? name : key;
  throw new AttuneError(
    ErrorCodes.ECONFIG,
    `${field} must be a positive whole number of ${what.unit}, got ${JSON.stringify(raw)}`,
    {
      details: { field },
      hint: `e.g. ${field}${fromEnv ? "=" : ": "}${what.fallback * 2} (the default is ${what.fallback})`,
    },
  );
}
