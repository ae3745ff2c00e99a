import { constants, type Dirent } from "node:fs";
import { mkdir, open, readdir, realpath, stat } from "node:fs/promises";
import { join, resolve, sep } from "node:path";
import { AttuneError, ErrorCodes, ioError } from "@attune/pack-storage";
import { intoFreshDir } from "../extract/fresh-dir";
import { resolveLimits, type ExtractLimits } from "../extract/limits";
import { writeAll } from "../extract/writer";
import type { FetchContext, FetchResult, Source } from "./types";

/**
 * Resolve a local source path and apply the local-roots rule: `roots` undefined allows any path (the
 * CLI acts for its own user); `[]` allows none (the API must not read the server's disk); otherwise
 * the real path (links resolved) must lie inside one of the roots.
 */
export async function checkLocalPath(input: string, roots: string[] | undefined, kind: "directory" | "file") {
  const absolute = resolve(input);
  let real: string;
  try {
    real = await realpath(absolute);
  } catch (err) {
    const e = ioError(err, absolute, "source");
    throw new AttuneError(e.code, e.message, { path: absolute, cause: err, details: { field: "source" } });
  }
  if (roots !== undefined) {
    const allowed = await Promise.all(roots.map((r) => realpath(r).catch(() => null)));
    if (!allowed.some((r) => r !== null && (real === r || real.startsWith(r.endsWith(sep) ? r : r + sep)))) {
      throw new AttuneError(
        ErrorCodes.EPOLICY,
        `source: local path ${absolute} is outside the allowed local source roots`,
        {
          path: absolute,
          details: { field: "source", roots },
          hint:
            roots.length === 0
              ? "local paths are disabled here; use a URL or a registry ref"
              : `allowed roots: ${roots.join(", ")}`,
        },
      );
    }
  }
  const info = await stat(real);
  if (kind === "directory" ? !info.isDirectory() : !info.isFile()) {
    throw new AttuneError(ErrorCodes.EINVALID_INPUT, `source: ${absolute} is not a ${kind}`, {
      path: absolute,
      details: { field: "source" },
    });
  }
  return { absolute, real };
}

interface CopyState {
  limits: ExtractLimits;
  files: number;
  bytes: number;
  entries: number;
  onProgress?: (p: { files: number; bytes: number }) => void;
}

function tooLarge(path: string, message: string, limit: string, value: number): AttuneError {
  return new AttuneError(ErrorCodes.ETOO_LARGE, `${path}: ${message}`, {
    path,
    details: { entry: path, limit, value },
    hint: "the directory exceeds a safety cap; is this really the pack's directory?",
  });
}

/** Copy one regular file; O_NOFOLLOW on both ends, so a file swapped for a link mid-copy is refused. */
async function copyFile(from: string, to: string, rel: string, state: CopyState): Promise<void> {
  const src = await open(from, constants.O_RDONLY | constants.O_NOFOLLOW).catch((err) => {
    throw ioError(err, from, "cannot read");
  });
  try {
    const info = await src.stat();
    if (!info.isFile())
      throw new AttuneError(ErrorCodes.ESPECIAL_FILE, `${from} is not a regular file`, { path: from });
    const mode = info.mode & 0o111 ? 0o755 : 0o644;
    const dst = await open(
      to,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      mode,
    );
    try {
      const buffer = Buffer.allocUnsafe(1024 * 1024);
      let size = 0;
      for (;;) {
        const { bytesRead } = await src.read(buffer, 0, buffer.length, null);
        if (bytesRead === 0) break;
        size += bytesRead;
        state.bytes += bytesRead;
        if (size > state.limits.maxEntryBytes) {
          throw tooLarge(rel, `larger than ${state.limits.maxEntryBytes} bytes`, "maxEntryBytes", size);
        }
        if (state.bytes > state.limits.maxTotalBytes) {
          throw tooLarge(
            rel,
            `the directory holds more than ${state.limits.maxTotalBytes} bytes`,
            "maxTotalBytes",
            state.bytes,
          );
        }
        await writeAll(dst, buffer.subarray(0, bytesRead));
      }
      await dst.chmod(mode);
    } finally {
      await dst.close();
    }
  } finally {
    await src.close();
  }
  state.files += 1;
  state.onProgress?.({ files: state.files, bytes: state.bytes });
}

async function copyEntry(
  e: Dirent,
  fromDir: string,
  toDir: string,
  rel: string,
  depth: number,
  state: CopyState,
) {
  const from = join(fromDir, e.name);
  if (e.name.includes("\ufffd")) {
    // Node decodes names as UTF-8; an invalid one cannot even be opened again by that name
    throw new AttuneError(ErrorCodes.EBAD_FILENAME, `${rel} has a file name that is not valid UTF-8`, {
      path: from,
      details: { entry: rel },
      hint: "rename the file; pack checksums need UTF-8 names",
    });
  }
  if (e.isSymbolicLink()) {
    throw new AttuneError(
      ErrorCodes.ESYMLINK,
      `${rel} is a symbolic link; packs may hold only regular files and directories`,
      {
        path: from,
        details: { entry: rel },
        hint: "replace the link with the file it points to",
      },
    );
  }
  if (!e.isFile() && !e.isDirectory()) {
    throw new AttuneError(
      ErrorCodes.ESPECIAL_FILE,
      `${rel} is a socket, FIFO or device; packs may hold only regular files and directories`,
      {
        path: from,
        details: { entry: rel },
      },
    );
  }
  state.entries += 1;
  if (state.entries > state.limits.maxEntries) {
    throw tooLarge(rel, `more than ${state.limits.maxEntries} entries`, "maxEntries", state.entries);
  }
  if (depth > state.limits.maxDepth) throw tooLarge(rel, `${depth} levels deep`, "maxDepth", depth);
  if (e.isDirectory()) {
    await mkdir(join(toDir, e.name), { mode: 0o755 });
    await copyTree(from, join(toDir, e.name), `${rel}/`, depth, state);
  } else {
    await copyFile(from, join(toDir, e.name), rel, state);
  }
}

async function copyTree(fromDir: string, toDir: string, relDir: string, depth: number, state: CopyState) {
  let entries: Dirent[];
  try {
    entries = await readdir(fromDir, { withFileTypes: true });
  } catch (err) {
    throw ioError(err, fromDir, "cannot list");
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    // the repository's own history is not pack content (nested .git entries are copied; the checksum skips them)
    if (depth === 0 && e.name === ".git") continue;
    const rel = relDir + e.name;
    await copyEntry(e, fromDir, toDir, rel, depth + 1, state);
  }
}

/**
 * `local_directory`: copy a directory into staging. Only regular files and directories (a link or
 * special file anywhere is an error naming it), the executable bit kept (0755/0644), the top-level
 * `.git` left out, the extraction caps applied. All or nothing: staging stays empty on failure.
 */
export function localDirectorySource(path: string, limits: Partial<ExtractLimits> = {}): Source {
  return {
    type: "local_directory",
    async fetch(stagingDir: string, ctx: FetchContext): Promise<FetchResult> {
      const { absolute, real } = await checkLocalPath(path, ctx.localSourceRoots, "directory");
      const state: CopyState = {
        limits: resolveLimits(limits),
        files: 0,
        bytes: 0,
        entries: 0,
        onProgress: ctx.onProgress && ((p) => ctx.onProgress?.({ phase: "copy", ...p })),
      };
      await intoFreshDir(stagingDir, (work) => copyTree(real, work, "", 0, state));
      return {
        sourceType: "local_directory",
        sourceUrl: absolute,
        sourceRef: null,
        resolvedCommit: null,
        archiveChecksum: null,
        expectedChecksum: null,
        registryName: null,
        details: { files: state.files, bytes: state.bytes, ...(real !== absolute ? { realPath: real } : {}) },
      };
    },
  };
}
