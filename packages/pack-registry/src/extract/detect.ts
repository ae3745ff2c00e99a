import { open } from "node:fs/promises";
import { basename } from "node:path";
import { AttuneError, ErrorCodes, ioError } from "@attune/pack-storage";
import { NO_FOLLOW_FLAGS } from "../open-flags";

export type ArchiveType = "tar.gz" | "tar" | "zip";

export const ARCHIVE_EXTENSIONS: ReadonlyArray<readonly [string, ArchiveType]> = [
  [".tar.gz", "tar.gz"],
  [".tgz", "tar.gz"],
  [".tar", "tar"],
  [".zip", "zip"],
];

/** The archive type a file name promises, from its extension (case-insensitive), or null. */
export function archiveTypeFromName(name: string): ArchiveType | null {
  const lower = basename(name).toLowerCase();
  for (const [ext, type] of ARCHIVE_EXTENSIONS) if (lower.endsWith(ext)) return type;
  return null;
}

/** The archive type of a file's first bytes (gzip, zip or an empty zip, "ustar" at 257), or null. */
export function typeFromMagic(head: Buffer): ArchiveType | null {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return "tar.gz";
  // local file header, or the end-of-central-directory record of an empty zip
  if (head.length >= 4 && head.readUInt32LE(0) === 0x04034b50) return "zip";
  if (head.length >= 4 && head.readUInt32LE(0) === 0x06054b50) return "zip";
  if (head.length >= 262 && head.toString("latin1", 257, 262) === "ustar") return "tar";
  return null;
}

export function notARegularFile(file: string): AttuneError {
  return new AttuneError(ErrorCodes.EINVALID_INPUT, `${file} is not a regular file`, {
    path: file,
    details: { field: "source" },
  });
}

/**
 * Detect an archive's type by its extension AND its magic bytes (gzip 1f8b, zip PK\x03\x04, "ustar"
 * at offset 257). A file whose bytes contradict its name is refused rather than guessed at. `name`
 * (default: the file's own name) lets a download stored under a temp name use the URL's name; when
 * it has no known extension, the magic bytes decide alone. `noFollow` opens without following a
 * link and refuses anything but a regular file (for a file the caller does not own).
 */
export async function detectArchiveType(
  file: string,
  opts: { name?: string; noFollow?: boolean } = {},
): Promise<ArchiveType> {
  const head = Buffer.alloc(512);
  let length = 0;
  try {
    const handle = await open(file, opts.noFollow ? NO_FOLLOW_FLAGS : "r");
    try {
      if (opts.noFollow && !(await handle.stat()).isFile()) throw notARegularFile(file);
      ({ bytesRead: length } = await handle.read(head, 0, head.length, 0));
    } finally {
      await handle.close();
    }
  } catch (err) {
    throw ioError(err, file, "cannot read archive");
  }
  const name = opts.name ?? file;
  const byName = archiveTypeFromName(name);
  const byMagic = typeFromMagic(head.subarray(0, length));
  if (byMagic === null) {
    throw new AttuneError(
      ErrorCodes.EUNSAFE_ARCHIVE,
      `${basename(name)} is not a ${byName ?? "supported"} archive: its first bytes match no gzip, zip or tar header`,
      { path: file, details: { entry: null }, hint: "supported archives are .tar.gz, .tgz, .tar and .zip" },
    );
  }
  if (byName !== null && byName !== byMagic) {
    throw new AttuneError(
      ErrorCodes.EUNSAFE_ARCHIVE,
      `${basename(name)} is named like a ${byName} archive but its bytes are ${byMagic}`,
      { path: file, details: { entry: null }, hint: "rename the file to match its content, or rebuild it" },
    );
  }
  return byMagic;
}
