import { lstat, readdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { ioError } from "@attune/pack-storage";
import { MANIFEST_FILE, manifestError, notAPlainFile } from "./errors";

/** true for a regular pack.yaml, false when absent; a link or directory named pack.yaml is an error. */
async function hasManifest(dir: string): Promise<boolean> {
  const file = join(dir, MANIFEST_FILE);
  try {
    const info = await lstat(file);
    if (info.isFile()) return true;
    throw notAPlainFile(file, info);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return false;
    throw ioError(err, file, "cannot inspect");
  }
}

/**
 * Where the pack is inside a fetched tree (DESIGN.md §5): `pack.yaml` at the top, else
 * `pack/pack.yaml`, else exactly one subdirectory holding one (the layout of GitHub tarballs,
 * `<repo>-<sha>/pack.yaml`). Several candidates are an error listing them: guessing could install
 * the wrong pack.
 */
export async function findPackRoot(dir: string): Promise<string> {
  const root = resolve(dir);
  let entries;
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch (err) {
    throw ioError(err, root, "cannot list");
  }
  if (await hasManifest(root)) return root;
  if (entries.some((e) => e.name === "pack" && e.isDirectory()) && (await hasManifest(join(root, "pack")))) {
    return join(root, "pack");
  }
  const candidates: string[] = [];
  for (const e of entries) {
    if (e.isDirectory() && e.name !== ".git" && (await hasManifest(join(root, e.name))))
      candidates.push(e.name);
  }
  if (candidates.length === 1) return join(root, candidates[0]);
  if (candidates.length > 1) {
    throw manifestError(null, `found in several subdirectories: ${candidates.sort().join(", ")}`, {
      path: root,
      details: { candidates },
      hint: "a source must hold exactly one pack: give a local directory as the pack's own directory; a git repository or an archive cannot be narrowed to a subdirectory, so it must hold a single pack (publish each pack from its own repository or archive)",
    });
  }
  throw manifestError(null, `not found at the top, in pack/, or in a single subdirectory of the source`, {
    path: root,
    hint: "a pack needs a pack.yaml at its root",
  });
}
