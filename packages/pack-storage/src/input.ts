// The path arguments of the public entry points, checked once there: Node would throw its own
// untyped TypeErrors for them (ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE, or an EIO wrapping
// one), and path.resolve("") is the current directory, which must never be hashed or used by mistake.
import { AttuneError, ErrorCodes } from "./errors";
import { shortPath } from "./short-path";

/** `value` when it is a usable path (a non-empty string without NUL bytes), else EINVALID_INPUT naming `field`. */
export function requirePathArg(value: unknown, field: string): string {
  if (typeof value === "string" && value !== "" && !value.includes("\0")) return value;
  let message: string;
  let hint: string;
  if (typeof value !== "string") {
    message = `${field} must be a path (a string), got ${describe(value)}`;
    hint = `pass ${field} as a string naming the path`;
  } else if (value === "") {
    message = `${field} is empty: a path is required`;
    hint = `pass ${field} as a non-empty path ("." for the current directory)`;
  } else {
    message = `${field} ${JSON.stringify(shortPath(value))} contains a NUL byte, which no path can hold`;
    hint = `remove the NUL (\\0) from ${field}: check where the path came from`;
  }
  return fail(message, hint, field);
}

function fail(message: string, hint: string, field: string): never {
  throw new AttuneError(ErrorCodes.EINVALID_INPUT, message, { hint, details: { field } });
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint")
    return `${typeof value} ${String(value)}`;
  return Array.isArray(value) ? "an array" : `a value of type ${typeof value}`;
}
