import { statSync } from "node:fs";
import { realpath, stat } from "node:fs/promises";
import path from "node:path";
import { AttuneError, ErrorCodes, isWithin } from "@attune/pack-storage";
import { archiveTypeFromName } from "../extract";
import { validateGitRef } from "../policy/git-ref";
import { parsePackSpec } from "../registry-index/versions";
import { archiveUrlSource } from "./archive-url";
import { checkGitUrl, gitSource } from "./git";
import { localArchiveSource } from "./local-archive";
import { localDirectorySource } from "./local-directory";
import { registrySource } from "./registry";
import type { FetchContext, FetchResult, Source, SourceSpec, SourceType } from "./types";
import { decodedPath } from "./url-path";

const ACCEPTED =
  "accepted: an https URL to a git repository or to a .tar.gz/.tgz/.tar/.zip, a local directory or archive path, or a registry ref (ref, ref@1.2.3, ref@latest, ref@^1.2)";
const SCHEME_RE = /^([a-z][a-z0-9+.-]*):\/\//i;
const SCP_RE = /^[\w.-]+@[\w.-]+:/; // git@host:owner/repo.git
const PACK_SPEC_RE = /^[a-z][a-z0-9_-]+(@.*)?$/;

function invalid(message: string, field = "source", hint = ACCEPTED): AttuneError {
  return new AttuneError(ErrorCodes.EINVALID_INPUT, message, { details: { field }, hint });
}

function looksLikePath(s: string): boolean {
  return (
    s === "." ||
    s === ".." ||
    s.includes("/") ||
    s.includes(path.sep) ||
    s.startsWith("~") ||
    archiveTypeFromName(s) !== null
  );
}

function localType(s: string): SourceType {
  return archiveTypeFromName(s) !== null ? "local_archive" : "local_directory";
}

/**
 * Classify user input. Purely syntactic except for bare names that are not pack refs, so an API
 * caller cannot probe the server's disk through the classification:
 *  - http(s) URL: archive when the path ends in .tar.gz/.tgz/.tar/.zip, else git;
 *  - a bare pack ref (`demo`, `demo@^1.2`): registry (like npm; write `./demo` for a directory);
 *  - a path (has a slash, starts with . or ~, or has an archive extension): local archive/directory;
 *  - any other existing name in the working directory: local; else EINVALID_INPUT.
 */
/**
 * `localSourceRoots` set (a server): a bare word is never looked up in the process's working
 * directory, which means nothing to the caller (and would tell which files exist there).
 */
export function classifySource(spec: SourceSpec, localSourceRoots?: string[]): SourceType {
  const s = spec.source?.trim() ?? "";
  if (s === "") throw invalid("source: is empty");
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(s)) throw invalid("source: holds control characters");
  const scheme = SCHEME_RE.exec(s)?.[1]?.toLowerCase();
  if (scheme === "http" || scheme === "https") {
    let u: URL;
    try {
      u = new URL(s);
    } catch (cause) {
      throw new AttuneError(ErrorCodes.EINVALID_INPUT, `source: "${s}" is not a valid URL`, {
        cause,
        details: { field: "source" },
      });
    }
    return archiveTypeFromName(decodedPath(u)) !== null ? "archive" : "git";
  }
  if (scheme !== undefined)
    throw invalid(`source: the ${scheme}:// scheme is not supported`, "source", `use https; ${ACCEPTED}`);
  if (SCP_RE.test(s) && !looksLikePath(s.split(":")[0]))
    throw invalid(`source: "${s}" is an ssh git address`, "source", "use the repository's https URL");
  if (PACK_SPEC_RE.test(s)) return "registry";
  if (looksLikePath(s)) return localType(s);
  if (localSourceRoots !== undefined)
    throw invalid(`source: "${s}" is not a URL, a pack ref or an absolute path`, "source", refHint(s));
  try {
    statSync(s);
    return localType(s);
  } catch {
    throw invalid(`source: "${s}" is not a URL, a pack ref or an existing path`, "source", refHint(s));
  }
}

/** A pack ref typed with capitals (`Base`, `Base@^1`): refs are lower-case, so name the one meant. */
function refHint(s: string): string {
  const at = s.indexOf("@");
  const ref = at < 0 ? s : s.slice(0, at);
  const lower = ref.toLowerCase() + (at < 0 ? "" : s.slice(at));
  if (ref === ref.toLowerCase() || !PACK_SPEC_RE.test(lower)) return ACCEPTED;
  return `pack refs are lower-case (^[a-z][a-z0-9_-]+$): did you mean \`${lower}\`?`;
}

/**
 * When local roots are configured, refuse a path outside them before touching the filesystem
 * (no existence oracle); the local sources re-check with links resolved.
 */
async function checkLocalRoots(input: string, roots: string[] | undefined): Promise<void> {
  if (roots === undefined) return;
  if (roots.length === 0)
    throw new AttuneError(ErrorCodes.EPOLICY, `source: local paths are not accepted here ("${input}")`, {
      details: { field: "source", rule: "local-source-roots" },
      hint: "local paths are disabled here; use a URL or a registry ref",
    });
  // where roots apply (a server), the process's working directory means nothing to the caller
  if (!path.isAbsolute(input))
    throw invalid(
      `source: local path "${input}" is relative; give the absolute path on the server`,
      "source",
      `give a path under one of the allowed roots: ${roots.join(", ")}`,
    );
  const p = path.resolve(input);
  const candidates = [
    ...roots.map((r) => path.resolve(r)),
    ...(await Promise.all(roots.map((r) => realpath(r).catch(() => null)))),
  ];
  if (candidates.some((r) => r !== null && isWithin(p, r))) return;
  throw new AttuneError(
    ErrorCodes.EPOLICY,
    `source: local path ${p} is outside the allowed local source roots`,
    {
      details: { field: "source", rule: "local-source-roots" },
      hint: `allowed roots: ${roots.join(", ")}`,
    },
  );
}

/** Pick the source for a spec, applying the outbound policy and the local-roots rule once, here. */
export async function createSource(spec: SourceSpec, ctx: FetchContext): Promise<Source> {
  const type = classifySource(spec, ctx.localSourceRoots);
  const s = spec.source.trim();
  if (spec.registry !== undefined && type !== "registry") {
    throw invalid(
      `registry: a registry name only applies to a registry ref, not to ${withArticle(type.replace("_", " "))} source`,
      "registry",
      "drop registry (--registry)",
    );
  }
  if (spec.ref !== undefined && type !== "git" && type !== "registry") {
    throw invalid(
      // no "ref: " prefix: the installer renames the field (refSpec) and would strip it
      `a ref only applies to git or registry sources, not to ${withArticle(type.replace("_", " "))} source`,
      "ref",
      "drop the ref (ref_spec, --ref)",
    );
  }
  switch (type) {
    case "git":
      if (spec.ref !== undefined) validateGitRef(spec.ref);
      checkGitUrl(s, spec.ref);
      ctx.policy.checkUrl(s, "source");
      return gitSource(s, spec.ref);
    case "archive":
      ctx.policy.checkUrl(s, "source");
      return archiveUrlSource(s);
    case "registry": {
      const parsed = parsePackSpec(s);
      if (spec.ref !== undefined && parsed.versionSpec !== undefined) {
        throw invalid(
          "ref: give the version either as ref@version or as ref, not both",
          "ref",
          "use ref@version",
        );
      }
      return registrySource(
        spec.ref !== undefined ? parsePackSpec(`${parsed.ref}@${spec.ref}`, "ref") : parsed,
        { registry: spec.registry, refresh: spec.refresh, checksum: spec.checksum },
      );
    }
    default: {
      await checkLocalRoots(s, ctx.localSourceRoots);
      // a directory whose name ends like an archive is still a directory
      const isDir = await stat(s).then(
        (st) => st.isDirectory(),
        () => false,
      );
      return isDir
        ? localDirectorySource(s)
        : type === "local_archive"
          ? localArchiveSource(s)
          : localDirectorySource(s);
    }
  }
}

/** Classify, apply policy, and fetch into `stagingDir` (which the caller owns and cleans). */
export async function fetchSource(
  spec: SourceSpec,
  stagingDir: string,
  ctx: FetchContext,
): Promise<FetchResult> {
  return (await createSource(spec, ctx)).fetch(stagingDir, ctx);
}

export { gitSource } from "./git";
export { archiveUrlSource, type ArchiveUrlOptions } from "./archive-url";
export { registrySource } from "./registry";

/** "an archive", "a local directory". */
function withArticle(word: string): string {
  return `${/^[aeiou]/.test(word) ? "an" : "a"} ${word}`;
}
