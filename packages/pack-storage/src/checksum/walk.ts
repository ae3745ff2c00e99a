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

const GIT = Buffer.from(".git");

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

/** All files of the tree under `root` (already checked by assertRealDirectory), in checksum order. */
export async function listTreeFiles(root: string, slicer: Slicer): Promise<TreeFile[]> {
  const out: TreeFile[] = [];
  await walkDir(root, "", out, slicer);
  return out;
}

// Siblings sorted bytewise + depth-first descent = component-by-component order
// (`a/x` before `a-b`, since component `a` < `a-b`). readdir is synchronous for speed (see read.ts),
// with a yield to the event loop whenever a time slice is used up.
async function walkDir(absDir: string, relDir: string, out: TreeFile[], slicer: Slicer): Promise<void> {
  let entries: fs.Dirent<Buffer>[];
  try {
    entries = fs.readdirSync(absDir, { withFileTypes: true, encoding: "buffer" });
  } catch (err) {
    throw ioError(err, absDir, "cannot read directory");
  }
  entries.sort((a, b) => Buffer.compare(a.name, b.name));
  for (const entry of entries) {
    if (entry.name.equals(GIT)) continue;
    const rel = relDir + checkedName(entry.name, absDir);
    const abs = nodePath.join(absDir, entry.name.toString("utf8"));
    if (entry.isFile()) out.push({ abs, rel });
    else if (entry.isDirectory()) {
      await slicer.maybeYield();
      await walkDir(abs, `${rel}/`, out, slicer);
    } else if (entry.isSymbolicLink()) {
      throw new AttuneError(ErrorCodes.ESYMLINK, `${abs} is a symbolic link; packs may not contain links`, {
        path: abs,
        hint: "replace the link with a copy of what it points to",
      });
    } else throw specialFileError(abs, kindOf(entry));
  }
}

function checkedName(name: Buffer, absDir: string): string {
  if (isUtf8(name)) return name.toString("utf8");
  const shown = nodePath.join(absDir, name.toString("latin1"));
  throw new AttuneError(ErrorCodes.EBAD_FILENAME, `${shown} has a name that is not valid UTF-8`, {
    path: shown,
    hint: "rename the file so its name is UTF-8",
    details: { nameHex: name.toString("hex") },
  });
}
