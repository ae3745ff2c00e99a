import crypto from "node:crypto";
import fs from "node:fs";
import { ioError } from "../errors";
import { requirePathArg } from "../input";
import { calculateDirectoryChecksum } from "./directory";
import { parseChecksum, toChecksum, type Checksum } from "./format";
import { BlockBuffers, openUserFile, streamFd } from "./read";

/** Plain SHA-256 of a file's bytes (an archive's checksum), `sha256:<hex>`. Links are followed. */
export async function calculateFileChecksum(file: string): Promise<Checksum> {
  requirePathArg(file, "file");
  const { fd, size } = await openUserFile(file);
  const hash = crypto.createHash("sha256");
  await streamFd(fd, file, new BlockBuffers(), (block) => hash.update(block), size);
  return toChecksum(hash.digest("hex"));
}

/**
 * Compute the checksum of a directory (framed v1) or a file (plain SHA-256) and compare it with
 * `expected`. A malformed `expected` is EINVALID_CHECKSUM before any I/O, never a silent pass.
 */
export async function verifyChecksum(
  path: string,
  expected: string,
): Promise<{ ok: boolean; expected: Checksum; actual: Checksum }> {
  const want = parseChecksum(expected, "expected checksum");
  requirePathArg(path, "path");
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(path);
  } catch (err) {
    throw ioError(err, path, "cannot verify", "read");
  }
  const actual = st.isDirectory()
    ? await calculateDirectoryChecksum(path)
    : await calculateFileChecksum(path);
  return { ok: actual === want, expected: want, actual };
}
