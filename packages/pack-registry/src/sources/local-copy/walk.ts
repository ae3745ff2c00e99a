import { readdirSync, type Dirent } from "node:fs";
import { setImmediate as nextTurn } from "node:timers/promises";
import { join } from "node:path";
import {
  AttuneError,
  ErrorCodes,
  HELPER_MIN_FILES,
  ParallelReads,
  compareTreePaths,
  ioError,
} from "@attune/pack-storage";
import { capHint, type ExtractLimits } from "../../extract/limits";
// the words of `pack checksum` for a special file (one error for both commands)
import {
  escapeName,
  specialFileError as checksumSpecialFileError,
  specialFileKind,
} from "@attune/pack-storage";

/** Milliseconds of synchronous listing between two returns to the event loop. */
const SLICE_MS = 8;

/** What one walk of a local directory found: relative paths, parents before children, sorted. */
export interface WalkedTree {
  dirs: string[];
  files: string[];
}

export function tooLarge(path: string, message: string, limit: string, value: number): AttuneError {
  return new AttuneError(ErrorCodes.ETOO_LARGE, `${path}: ${message}`, {
    path,
    details: { entry: path, limit, value },
    // which setting raises it (and the configured value is in the message), as for archives
    hint: `the directory exceeds a safety cap (is this really the pack's directory?); ${capHint(limit)}`,
  });
}

export function symlinkError(rel: string, from: string): AttuneError {
  return new AttuneError(
    ErrorCodes.ESYMLINK,
    `${rel} is a symbolic link; packs may hold only regular files and directories`,
    { path: from, details: { entry: rel }, hint: "replace the link with the file it points to" },
  );
}

/**
 * A file with more than one name (`st_nlink > 1`), refused under local source roots (the API): a
 * hard link made inside a root to a file outside it would copy that file, and its other names
 * cannot be checked. `rel`: the file's path in a pack directory; absent for the source itself (an
 * archive).
 */
export function hardLinkError(from: string, nlink: number, rel?: string): AttuneError {
  const what = rel ?? `source: ${from}`;
  return new AttuneError(
    ErrorCodes.EPOLICY,
    `${what} is a hard link (the file has ${nlink} names): refused under local source roots, where its other name may be outside them`,
    {
      path: from,
      details: { ...(rel !== undefined ? { entry: rel } : {}), field: "source", rule: "hard-link" },
      hint:
        rel !== undefined
          ? "replace the hard link with a copy of the file in the pack's directory"
          : "copy the archive into the root instead of linking it",
    },
  );
}

/** In the words of `pack checksum` (pack-storage), naming the entry by its path in the pack. */
export function specialFileError(rel: string, from: string, kind: string): AttuneError {
  const e = checksumSpecialFileError(rel, kind);
  return new AttuneError(e.code, e.message, { path: from, details: { entry: rel, kind }, hint: e.hint });
}

/** The bytes of the name in `dir` that Node decoded as `decoded` (undefined if none, or unreadable). */
function rawName(dir: string, decoded: string): Buffer | undefined {
  try {
    return readdirSync(dir, { encoding: "buffer" }).find((b) => b.toString("utf8") === decoded);
  } catch {
    return undefined;
  }
}

/**
 * Refuse what a pack may not hold; the checks run before anything is written. `dir` is the entry's
 * directory (its full path is only built for an error: a join per file costs ~1 µs).
 */
function checkEntry(e: Dirent, dir: string, rel: string): void {
  if (e.isFile() && !e.name.includes("\ufffd")) return;
  const from = join(dir, e.name);
  if (e.name.includes("\ufffd")) {
    // Node decodes names as UTF-8; an invalid one cannot even be opened again by that name. Its
    // bytes (read again, for this error only) are shown escaped, as the checksum shows them.
    const raw = rawName(dir, e.name);
    const shown = raw ? `${rel.slice(0, rel.length - e.name.length)}${escapeName(raw)}` : rel;
    throw new AttuneError(ErrorCodes.EBAD_FILENAME, `${shown} has a file name that is not valid UTF-8`, {
      path: raw ? join(dir, escapeName(raw)) : from,
      details: { entry: shown, ...(raw ? { nameHex: raw.toString("hex") } : {}) },
      hint: "rename the file; pack checksums need UTF-8 names",
    });
  }
  if (e.isSymbolicLink()) throw symlinkError(rel, from);
  if (!e.isFile() && !e.isDirectory()) throw specialFileError(rel, from, specialFileKind(e));
}

/**
 * Walk `root` once with `readdir(withFileTypes)` (no per-entry stat), depth first in the checksum's
 * order (siblings bytewise), so the first offending entry named is the same on every run and the
 * files come out in the order the directory checksum hashes them; applies the entry and depth caps.
 * The top-level `.git` is history, not pack content (nested ones are kept; the checksum skips them).
 */
export async function walkTree(root: string, limits: ExtractLimits): Promise<WalkedTree> {
  const tree: WalkedTree = { dirs: [], files: [] };
  let entries = 0;
  let slice = performance.now();
  const visit = async (relDir: string, depth: number): Promise<void> => {
    const dir = relDir ? join(root, relDir) : root;
    // synchronous, like the copy: an async readdir per directory cost 3x (72 ms against 24 ms for
    // the 585 directories of the `many` corpus), with a return to the event loop every SLICE_MS
    if (performance.now() - slice >= SLICE_MS) {
      await nextTurn();
      slice = performance.now();
    }
    let list: Dirent[];
    try {
      list = readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      throw ioError(err, dir, "cannot list");
    }
    // the checksum's order (bytewise, not UTF-16), so the copy can be hashed as it is written
    list.sort((a, b) => compareTreePaths(a.name, b.name));
    for (const e of list) {
      // `.git` at any depth is not pack content (the checksum skips it; see entry-checker.ts)
      if (e.name === ".git") continue;
      const rel = relDir ? `${relDir}/${e.name}` : e.name;
      checkEntry(e, dir, rel);
      entries += 1;
      if (entries > limits.maxEntries) {
        throw tooLarge(rel, `more than ${limits.maxEntries} entries`, "maxEntries", entries);
      }
      if (depth + 1 > limits.maxDepth) throw tooLarge(rel, `${depth + 1} levels deep`, "maxDepth", depth + 1);
      const bytes = Buffer.byteLength(rel);
      if (bytes > limits.maxPathBytes)
        throw tooLarge(
          rel,
          `path is ${bytes} bytes long (cap ${limits.maxPathBytes})`,
          "maxPathBytes",
          bytes,
        );
      if (e.isDirectory()) {
        tree.dirs.push(rel);
        await visit(rel, depth + 1);
      } else if (tree.files.push(rel) === HELPER_MIN_FILES) {
        // enough files for the copy's helper thread: let it boot (~20 ms) while the walk goes on
        ParallelReads.prestart();
      }
    }
  };
  await visit("", 0);
  return tree;
}
