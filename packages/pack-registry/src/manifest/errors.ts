import { AttuneError, ErrorCodes } from "@attune/pack-storage";

export const MANIFEST_FILE = "pack.yaml";

/** EMANIFEST naming the field, e.g. `pack.yaml: field "version": "1.0" is not a strict semver version`. */
export function manifestError(
  field: string | null,
  message: string,
  opts: { hint?: string; path?: string; cause?: unknown; details?: Record<string, unknown> } = {},
): AttuneError {
  const where = field === null ? "" : ` field "${field}":`;
  return new AttuneError(ErrorCodes.EMANIFEST, `${MANIFEST_FILE}:${where} ${message}`, {
    hint: opts.hint,
    path: opts.path,
    cause: opts.cause,
    details: { field, ...opts.details },
  });
}

/**
 * A pack.yaml that is not a plain file, said by what it is (the pack's own view: a fetched pack's
 * path is a staging directory that is gone by the time the user reads it; `path` keeps it).
 */
export function notAPlainFile(file: string, info: { isDirectory(): boolean; isSymbolicLink(): boolean }) {
  const what = info.isDirectory()
    ? "a directory"
    : info.isSymbolicLink()
      ? "a symbolic link"
      : "a special file (FIFO, socket or device)";
  return manifestError(null, `is ${what}, not a plain file`, {
    path: file,
    hint: "pack.yaml must be a plain file at the pack's root, not a link or directory",
  });
}

/** A value as it should appear in a message: strings quoted, long ones cut. */
export function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (value === null || typeof value !== "object") return String(value);
  return Array.isArray(value) ? "a list" : "a mapping";
}
