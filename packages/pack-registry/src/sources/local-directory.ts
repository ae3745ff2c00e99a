import { realpath, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { AttuneError, ErrorCodes, ioError, isWithin } from "@attune/pack-storage";
import { intoFreshDir } from "../extract/fresh-dir";
import { resolveLimits, type ExtractLimits } from "../extract/limits";
import { copyLocalTree } from "./local-copy/copy-tree";
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
    throw new AttuneError(e.code, e.message, {
      path: absolute,
      cause: err,
      details: { field: "source" },
      hint:
        e.hint ??
        (e.code === "ENOENT"
          ? "check the path; a pack directory or a .tar.gz/.tgz/.tar/.zip archive (a bare name is a registry ref)"
          : undefined),
    });
  }
  if (roots !== undefined) {
    const allowed = await Promise.all(roots.map((r) => realpath(r).catch(() => null)));
    if (!allowed.some((r) => r !== null && isWithin(real, r))) {
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
  // a FIFO, socket or device: said as `attune pack checksum` says it
  if (!info.isDirectory() && !info.isFile()) {
    throw new AttuneError(
      ErrorCodes.EINVALID_INPUT,
      `source: ${absolute} is neither a directory nor a regular file`,
      { path: absolute, details: { field: "source" }, hint: "give a pack directory or an archive file" },
    );
  }
  if (kind === "directory" ? !info.isDirectory() : !info.isFile()) {
    throw new AttuneError(ErrorCodes.EINVALID_INPUT, `source: ${absolute} is not a ${kind}`, {
      path: absolute,
      details: { field: "source" },
    });
  }
  return { absolute, real };
}

/**
 * A read refused by the system (EACCES, EPERM) on the source the caller named is the caller's to
 * mend, not a server fault: the error names the `source` field and says so. Errors elsewhere (the
 * staging side) pass unchanged.
 */
export function asSourceError(err: unknown, sourcePaths: string[]): unknown {
  if (!(err instanceof AttuneError) || !err.path || err.details?.field !== undefined) return err;
  const sys = err.details?.syscallCode;
  const denied = err.code === ErrorCodes.EIO && (sys === "EACCES" || sys === "EPERM");
  // gone since it was checked (moved or swapped meanwhile): still the caller's path, not a server fault
  if (!denied && err.code !== ErrorCodes.ENOENT) return err;
  const at = err.path;
  if (!sourcePaths.some((p) => isWithin(at, p))) return err;
  return new AttuneError(err.code, err.message, {
    path: at,
    cause: err,
    hint: denied
      ? "this process may not read it: make the source readable by the user the CLI or API runs as"
      : (err.hint ?? "the source changed while it was being read; retry once it is stable"),
    details: { ...err.details, field: "source" },
  });
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
      const caps = resolveLimits({ ...ctx.limits, ...limits });
      const onProgress =
        ctx.onProgress &&
        ((p: { files: number; bytes: number }) => ctx.onProgress?.({ phase: "copy", ...p }));
      // with local source roots enforced (the API), every file read is proven to be inside the source
      const confine = ctx.localSourceRoots !== undefined ? real : undefined;
      const copied = await intoFreshDir(stagingDir, (work) =>
        copyLocalTree(real, work, caps, onProgress, { confine }),
      ).catch((err: unknown) => {
        throw asSourceError(err, [real, absolute]);
      });
      return {
        sourceType: "local_directory",
        sourceUrl: absolute,
        sourceRef: null,
        resolvedCommit: null,
        archiveChecksum: null,
        expectedChecksum: null,
        registryName: null,
        ...(copied.treeHash ? { treeHash: copied.treeHash } : {}),
        details: {
          files: copied.files,
          bytes: copied.bytes,
          ...(real !== absolute ? { realPath: real } : {}),
        },
      };
    },
  };
}
