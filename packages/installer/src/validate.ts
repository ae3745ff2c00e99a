import { AttuneError, ErrorCodes } from "@attune/pack-storage";
import type { InstallRequest } from "./types";

const METHODS = new Set(["api", "cli", "manual"]);

function bad(field: string, why: string, hint?: string): AttuneError {
  return new AttuneError(ErrorCodes.EINVALID_INPUT, `${field} ${why}`, { details: { field }, hint });
}

/** Reject malformed requests before anything is fetched (the apps pass user input through unchanged). */
export function validateInstallRequest(req: InstallRequest): void {
  if (!req || typeof req !== "object") throw bad("request", "must be an object");
  if (typeof req.source !== "string" || req.source.trim() === "")
    throw bad(
      "source",
      "is required",
      "give a pack directory or archive path, an https URL, or a registry ref[@version]",
    );
  if (req.source.includes("\0")) throw bad("source", "contains a NUL byte");
  if (!METHODS.has(req.method)) throw bad("method", "must be one of api, cli, manual");
  for (const k of ["refSpec", "checksum", "registry"] as const)
    if (req[k] !== undefined && typeof req[k] !== "string") throw bad(k, "must be a string");
  for (const k of ["force", "skipDeps", "skipTests", "refresh"] as const)
    if (req[k] !== undefined && typeof req[k] !== "boolean") throw bad(k, "must be a boolean");
}
