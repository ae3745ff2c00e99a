import { AttuneError, ErrorCodes } from "../errors";

/** `sha256:` + 64 lowercase hex: the only checksum form on the wire and in the database. */
export type Checksum = `sha256:${string}`;

const CHECKSUM_RE = /^sha256:[0-9a-f]{64}$/;

export function toChecksum(hex: string): Checksum {
  return `sha256:${hex}`;
}

/**
 * Validate a checksum given by a user, an index or the database and return its canonical
 * (lower-case) form. A malformed value is an error, never a silent pass.
 */
export function parseChecksum(value: string, field = "checksum"): Checksum {
  const lowered = typeof value === "string" ? value.toLowerCase() : "";
  if (!CHECKSUM_RE.test(lowered)) {
    const shown = typeof value === "string" ? JSON.stringify(value.slice(0, 80)) : String(value);
    throw new AttuneError(ErrorCodes.EINVALID_CHECKSUM, `${field} ${shown} is not a valid checksum`, {
      hint: 'use the form "sha256:" followed by 64 hexadecimal characters',
      details: { field },
    });
  }
  return lowered as Checksum;
}
