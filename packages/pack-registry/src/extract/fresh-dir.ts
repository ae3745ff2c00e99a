import { chmod, lstat, mkdtemp, readdir, rename, rm } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import type { Stats } from "node:fs";
import { AttuneError, ErrorCodes, ioError } from "@attune/pack-storage";

async function inspect(dest: string): Promise<Stats | null> {
  try {
    return await lstat(dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw ioError(err, dest, "cannot inspect destination");
  }
}

/**
 * Fill a fresh private (0700) sibling of `dest`, then rename it onto `dest` in one step, so `dest` ends
 * up either complete or untouched: on any failure the sibling is removed entirely. `dest` must be
 * absent or an empty directory (a staging directory); its mode is kept, else it gets 0755.
 */
export async function intoFreshDir<T>(destination: string, fill: (dir: string) => Promise<T>): Promise<T> {
  const dest = resolve(destination);
  const existing = await inspect(dest);
  const occupied = async () =>
    (
      await readdir(dest).catch((err) => {
        throw ioError(err, dest, "cannot list destination");
      })
    ).length > 0;
  if (existing && (!existing.isDirectory() || (await occupied()))) {
    throw new AttuneError(
      ErrorCodes.EINVALID_INPUT,
      `destination ${dest} must be absent or an empty directory`,
      {
        path: dest,
        details: { field: "dest" },
        hint: "extract into a fresh staging directory",
      },
    );
  }
  let work: string;
  try {
    work = await mkdtemp(join(dirname(dest), `.${basename(dest)}.partial-`));
  } catch (err) {
    throw ioError(err, dirname(dest), "cannot create a work directory in");
  }
  try {
    const result = await fill(work);
    await chmod(work, existing ? existing.mode & 0o777 : 0o755);
    // rename(2) replaces an empty directory atomically; a dest filled meanwhile fails with ENOTEMPTY
    await rename(work, dest).catch((err) => {
      throw ioError(err, dest, "cannot move the extracted tree to");
    });
    return result;
  } catch (err) {
    await rm(work, { recursive: true, force: true });
    throw err;
  }
}
