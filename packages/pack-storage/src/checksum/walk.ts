// Directory walk for the "framed v1" checksum (DESIGN.md §3): the root must be a real directory,
// `.git` entries are skipped at any depth, links and special files are errors, names must be UTF-8,
// and files come out in component-by-component bytewise order.
import fs from "node:fs";
import nodePath from "node:path";
import { isUtf8 } from "node:buffer";
import { AttuneError, ErrorCodes, ioError } from "../errors";
import { kindOf, specialFileError } from "./fs-io";
import type { Slicer } from "./read";

export interface TreeFile {
  /** absolute path on disk */
  abs: string;
  /** relative path, components joined by `/` */
  rel: string;
}

/** Check that `root` is a real directory (not a link, not a file) and return its absolute path. */
export async function assertRealDirectory(root: string): Promise<string> {
  const abs = nodePath.resolve(root);
  let st: fs.Stats;
  try {
    st = await fs.promises.lstat(abs);
  } catch (err) {
    throw ioError(err, root, "cannot read directory");
  }
  if (st.isSymbolicLink()) {
    throw new AttuneError(
      ErrorCodes.ESYMLINK,
      `${root} is a symbolic link; the pack root must be a real directory`,
      {
        path: root,
        hint: "pass the directory the link points to",
      },
    );
  }
  if (!st.isDirectory()) {
    throw new AttuneError(ErrorCodes.EINVALID_INPUT, `${root} is not a directory`, {
      path: root,
      details: { field: "path" },
    });
  }
  return abs;
}

/**
 * All files of the tree under `root` (already checked by assertRealDirectory), in checksum order.
 * `onMany` runs once, when the walk has found `many.files` files (to start a reader thread early).
 */
export async function listTreeFiles(
  root: string,
  slicer: Slicer,
  many?: { files: number; run: () => void },
): Promise<TreeFile[]> {
  const out: TreeFile[] = [];
  await walkDir(root, "", out, slicer, many);
  return out;
}

// Siblings sorted bytewise + depth-first descent = component-by-component order
// (`a/x` before `a-b`, since component `a` < `a-b`). readdir is synchronous for speed (see read.ts),
// with a yield to the event loop whenever a time slice is used up.
async function walkDir(
  absDir: string,
  relDir: string,
  out: TreeFile[],
  slicer: Slicer,
  many: { files: number; run: () => void } | undefined,
): Promise<void> {
  const entries = readEntries(absDir);
  for (const entry of entries) {
    const name = entry.name;
    if (name === ".git") continue;
    const abs = `${absDir}/${name}`; // absDir is absolute and normalised; names hold no "/"
    const rel = relDir + name;
    if (entry.isFile()) {
      if (out.push({ abs, rel }) === many?.files) many.run();
    } else if (entry.isDirectory()) {
      const pause = slicer.tick();
      if (pause) await pause;
      await walkDir(abs, `${rel}/`, out, slicer, many);
    } else if (entry.isSymbolicLink()) {
      throw new AttuneError(ErrorCodes.ESYMLINK, `${abs} is a symbolic link; packs may not contain links`, {
        path: abs,
        hint: "replace the link with a copy of what it points to",
      });
    } else throw specialFileError(abs, kindOf(entry));
  }
}

/** The entries of a directory, names checked for UTF-8 and sorted bytewise. */
function readEntries(absDir: string): fs.Dirent[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(absDir, { withFileTypes: true });
  } catch (err) {
    throw ioError(err, absDir, "cannot read directory");
  }
  let exotic = false;
  for (const e of entries) {
    // invalid UTF-8 decodes to U+FFFD; only then look at the raw bytes (U+FFFD may also be genuine)
    if (e.name.includes("\uFFFD")) checkRawNames(absDir);
    if (!exotic && /[\uD800-\uDFFF\uE000-\uFFFF]/.test(e.name)) exotic = true;
  }
  // UTF-16 order equals UTF-8 byte order except between surrogates and U+E000..U+FFFF
  return entries.sort(exotic ? (a, b) => compareUtf8(a.name, b.name) : (a, b) => (a.name < b.name ? -1 : 1));
}

function checkRawNames(absDir: string): void {
  for (const raw of fs.readdirSync(absDir, { encoding: "buffer" })) {
    if (isUtf8(raw)) continue;
    const shown = nodePath.join(absDir, raw.toString("latin1"));
    throw new AttuneError(ErrorCodes.EBAD_FILENAME, `${shown} has a name that is not valid UTF-8`, {
      path: shown,
      hint: "rename the file so its name is UTF-8",
      details: { nameHex: raw.toString("hex") },
    });
  }
}

/** Compare two strings in the order of their UTF-8 bytes (= code point order). */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

// surrogates encode code points above U+FFFF, so they must rank above U+E000..U+FFFF
function codePointRank(unit: number): number {
  if (unit >= 0xd800 && unit <= 0xdfff) return unit + 0x2000;
  return unit >= 0xe000 ? unit - 0x800 : unit;
}
