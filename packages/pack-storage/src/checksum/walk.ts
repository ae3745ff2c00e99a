// Directory walk for the "framed v1" checksum (DESIGN.md §3): the root must be a real directory,
// `.git` entries are skipped at any depth, links and special files are errors, names must be UTF-8,
// and files come out in component-by-component bytewise order.
import fs from "node:fs";
import nodePath from "node:path";
import { isUtf8 } from "node:buffer";
import { AttuneError, ErrorCodes, ioError } from "../errors";
import { shortPath } from "../short-path";
import { kindOf, specialFileError, symlinkError } from "./fs-io";
import type { Slicer } from "./read";

export interface TreeFile {
  /** absolute path on disk */
  abs: string;
  /** relative path, components joined by `/` */
  rel: string;
}

/**
 * Check that `root` is a real directory (not a link, not a file) and return its absolute path.
 * `root` was checked to be a usable path by the entry point (input.ts requirePathArg).
 */
export async function assertRealDirectory(root: string): Promise<string> {
  const abs = nodePath.resolve(root);
  let st: fs.Stats;
  try {
    st = await fs.promises.lstat(abs);
  } catch (err) {
    throw ioError(err, root, "cannot read directory", "read");
  }
  if (st.isSymbolicLink()) {
    // named, so the way on is one copy away (an installed pack's storage path is such a link)
    const target = await fs.promises.realpath(abs).catch(() => null);
    throw new AttuneError(
      ErrorCodes.ESYMLINK,
      `${shortPath(root)} is a symbolic link; the pack root must be a real directory`,
      {
        path: root,
        hint: target
          ? `pass the directory the link points to: ${target}`
          : "pass the directory the link points to (this link points to nothing that exists)",
      },
    );
  }
  if (!st.isDirectory()) {
    throw new AttuneError(ErrorCodes.EINVALID_INPUT, `${shortPath(root)} is not a directory`, {
      path: root,
      hint: "pass the pack's directory; a single file (an archive) is hashed with calculateFileChecksum or verifyChecksum",
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
    } else if (entry.isSymbolicLink()) throw symlinkError(abs);
    else throw specialFileError(abs, kindOf(entry));
  }
}

/** The entries of a directory, names checked for UTF-8 and sorted bytewise. */
function readEntries(absDir: string): fs.Dirent[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(absDir, { withFileTypes: true });
  } catch (err) {
    throw ioError(err, absDir, "cannot read directory", "read");
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
    const shown = nodePath.join(absDir, escapeName(raw));
    throw new AttuneError(
      ErrorCodes.EBAD_FILENAME,
      `${shortPath(shown)} has a name that is not valid UTF-8`,
      {
        path: shown,
        hint: "rename the file so its name is UTF-8",
        details: { nameHex: raw.toString("hex") },
      },
    );
  }
}

/**
 * A file name's bytes for display: valid UTF-8 as text, every other byte as `\xNN` (so
 * `bad\xff\xfename`, never Latin-1 mojibake), and control characters and `\` escaped too, so
 * that the form reads back unambiguously and never puts raw control bytes in a terminal.
 */
export function escapeName(raw: Buffer): string {
  let out = "";
  for (let i = 0; i < raw.length;) {
    const n = utf8SequenceLength(raw, i);
    const cp =
      n === 0
        ? -1
        : raw
            .subarray(i, i + n)
            .toString("utf8")
            .codePointAt(0)!;
    if (n === 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
      const len = Math.max(n, 1);
      for (let j = i; j < i + len; j++) out += `\\x${raw[j].toString(16).padStart(2, "0")}`;
      i += len;
    } else {
      out += cp === 0x5c ? "\\\\" : String.fromCodePoint(cp);
      i += n;
    }
  }
  return out;
}

/** The length of the valid UTF-8 sequence at `i` (1-4), or 0 when the byte there starts none. */
function utf8SequenceLength(b: Buffer, i: number): number {
  const c = b[i];
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < b.length && b[i + k] >= lo && b[i + k] <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    // no overlong forms (E0 80..9F) and no surrogates (ED A0..BF)
    const lo = c === 0xe0 ? 0xa0 : 0x80;
    const hi = c === 0xed ? 0x9f : 0xbf;
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const lo = c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xf4 ? 0x8f : 0xbf;
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
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
