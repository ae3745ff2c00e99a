import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { ioError } from "@attune/pack-storage";
import type { ExtractLimits } from "../../extract/limits";
import { copyRegularFile, type CopyState } from "./copy-file";
import { walkTree } from "./walk";

/**
 * Files in flight at once. The thread pool has 4 threads; more requests queued keep it busy while the
 * main thread runs callbacks, and past ~32 a profile shows only more memory, no more speed.
 */
const CONCURRENCY = 32;

function processUmask(): number {
  try {
    return process.umask();
  } catch {
    return 0o777; // cannot read it here (a worker thread): chmod every file explicitly
  }
}

/**
 * Run `task` over `items` with at most `limit` in flight. On failure no new item starts, the ones
 * running finish (so nothing is still writing when the caller removes the work directory), and the
 * error of the earliest failed item is thrown: the same one a one-at-a-time copy would have hit.
 */
async function forEachBounded<T>(items: T[], limit: number, task: (item: T) => Promise<void>) {
  let next = 0;
  let failedAt = Infinity;
  let error: unknown;
  const runner = async () => {
    while (next < items.length && failedAt === Infinity) {
      const index = next++;
      try {
        await task(items[index] as T);
      } catch (err) {
        if (index < failedAt) {
          failedAt = index;
          error = err;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, runner));
  if (failedAt !== Infinity) throw error;
}

/**
 * Copy the directory `root` into the fresh, empty directory `dest`: one walk that refuses links,
 * special files, bad names and exceeded caps before anything is written; each directory created
 * once (parents first); then the files, `CONCURRENCY` at a time.
 */
export async function copyLocalTree(
  root: string,
  dest: string,
  limits: ExtractLimits,
  onProgress?: CopyState["onProgress"],
): Promise<{ files: number; bytes: number }> {
  const tree = await walkTree(root, limits);
  for (const rel of tree.dirs) {
    await mkdir(join(dest, rel), { mode: 0o755 }).catch((err) => {
      throw ioError(err, join(dest, rel), "cannot create directory");
    });
  }
  const state: CopyState = { limits, umask: processUmask(), files: 0, bytes: 0, onProgress };
  await forEachBounded(tree.files, CONCURRENCY, (rel) =>
    copyRegularFile(join(root, rel), join(dest, rel), rel, state),
  );
  return { files: state.files, bytes: state.bytes };
}
