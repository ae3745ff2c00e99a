import fs from "node:fs";
import path from "node:path";
import type { GitHttpRequest, GitHttpResponse, HttpClient } from "isomorphic-git";
import { AttuneError, ErrorCodes, redactUrl } from "@attune/pack-storage";
import { registryAuthHint } from "../net/fetch-buffer";
import { policyGitHttp } from "../net/git-http";
import { truncated } from "../net/request";
import { isCommitSha, validateGitRef } from "../policy/git-ref";
import { EntryChecker } from "../extract/entry-checker";
import { resolveLimits, type ExtractLimits } from "../extract/limits";
import { GitBlobSizes } from "./git-sizes";
import { emptyDir } from "./staging";
import type { FetchContext, FetchResult, Source } from "./types";
import { quoteName, quoteRemote } from "../quote";

/**
 * A git URL's #fragment is never sent (npm's `repo.git#v1.0.0` swallows the `/info/refs` suffix and
 * reads as a missing repository): refused, naming the ref to give separately (or, when a ref is
 * given already, saying to drop the fragment). A ?query cannot work either: git (and
 * isomorphic-git) add `/info/refs` after the whole URL, so the request goes to `…?token=x/info/refs`.
 */
export function checkGitUrl(url: string, givenRef?: string): void {
  checkGitUrlFragment(url, givenRef);
  const q = url.indexOf("?");
  if (q < 0) return;
  throw new AttuneError(
    ErrorCodes.EINVALID_INPUT,
    `source: a git URL takes no ?query ("${quoteName(redactUrl(url.slice(q, q + 80)))}"): git adds /info/refs to the URL, after the query, so no repository is found`,
    {
      details: { field: "source" },
      hint: `give the URL without the query, ${quoteName(redactUrl(url.slice(0, q)))}; a private repository is installed through a registry whose headers carry the credentials`,
    },
  );
}

function checkGitUrlFragment(url: string, givenRef?: string): void {
  const i = url.indexOf("#");
  if (i < 0) return;
  const frag = url.slice(i + 1);
  const ref =
    frag.length > 0 && frag.length <= 255 && !/[\s\u0000-\u001f]/.test(frag) ? frag : "<tag or branch>";
  const bare = quoteName(redactUrl(url.slice(0, i)));
  throw new AttuneError(
    ErrorCodes.EINVALID_INPUT,
    `source: a git URL takes no #fragment ("${quoteName(url.slice(i, i + 80))}"): the ref is not part of the URL`,
    {
      details: { field: "source" },
      hint:
        givenRef === undefined
          ? `give the ref separately: --ref ${ref} (ref_spec in the API), with the URL ${bare}`
          : `the ref is given separately already (${quoteName(givenRef)}): give the URL without the fragment, ${bare}`,
    },
  );
}

/** The hint of a git request that found no repository: the URL was perhaps an archive's. */
const NOT_A_REPO_HINT =
  "check the repository URL; a URL is cloned as git unless its path ends in .tar.gz, .tgz, .tar or .zip, so a download link without one of those is taken for a repository";

function gitError(
  e: unknown,
  url: string,
  ref: string | undefined,
  registryName: string | undefined,
): AttuneError {
  if (e instanceof AttuneError) return e;
  const err = e as {
    code?: string;
    message?: string;
    data?: { statusCode?: number; expected?: string; actual?: string };
  };
  // what messages and details quote: no secret query value (`?token=`) of the URL
  const shown = redactUrl(url);
  // our http plugin's errors can come back wrapped by isomorphic-git
  const inner = (e as { cause?: unknown })?.cause;
  if (inner instanceof AttuneError) return inner;
  if (err.code === "ObjectTypeError" && err.data?.expected === "commit" && ref !== undefined) {
    // a tag of a tree or a blob (`git tag t HEAD^{tree}`): there is nothing to check out
    return new AttuneError(
      ErrorCodes.ENOTFOUND,
      `git ref "${ref}" in ${shown} names a ${err.data.actual ?? "non-commit object"}, not a commit`,
      {
        cause: e,
        details: { field: "ref", ref },
        hint: isCommitSha(ref)
          ? "give the SHA of a commit, or a tag or branch that points at one"
          : "give a tag or branch that points at a commit (git ls-remote lists them; a tag of a tree or a blob cannot be installed)",
      },
    );
  }
  if (err.code === "NotFoundError" && ref === undefined) {
    // no ref: isomorphic-git clones HEAD, and falls back to "master" when HEAD names nothing
    return new AttuneError(
      ErrorCodes.ENOTFOUND,
      `${shown} has no default branch to clone: the repository is empty (no commits) or its HEAD names a branch that does not exist`,
      {
        cause: e,
        details: { field: "source", url: shown },
        hint: "push a commit to the repository's default branch, or give the tag or branch to install with --ref",
      },
    );
  }
  if (err.code === "NotFoundError" && ref !== undefined) {
    return new AttuneError(ErrorCodes.ENOTFOUND, `git ref "${ref}" was not found in ${shown}`, {
      cause: e,
      details: { field: "ref", ref },
      hint: /^[0-9a-f]{4,39}$/i.test(ref)
        ? "an abbreviated commit SHA is not accepted (it could name a branch too): give all 40 hex digits"
        : "check the tag, branch or commit SHA (git ls-remote lists them)",
    });
  }
  const status = err.data?.statusCode;
  return new AttuneError(
    ErrorCodes.EFETCH,
    `git clone of ${shown} failed: ${quoteRemote(err.message ?? String(e))}`,
    {
      cause: e,
      details: { field: "source", url: shown, ...(status ? { status } : {}) },
      hint:
        status === 401 || status === 403
          ? registryName !== undefined
            ? registryAuthHint(registryName)
            : "check the URL and that the repository is open to you: a URL cannot carry credentials (a private repository is installed through a registry with headers)"
          : status === 404 || err.code === "SmartHttpError"
            ? NOT_A_REPO_HINT
            : "check the repository URL and that the server is reachable",
    },
  );
}

/**
 * Every entry of the commit's tree through the same checks as an archive's entries (names,
 * collisions, count, depth, per-file and total size), before a byte is checked out: blob sizes
 * come from the pack headers (GitBlobSizes), so a 200 MiB blob of zeros that crossed the wire in
 * a few KB is refused without being inflated. A link is ESYMLINK at once (nothing checked out);
 * a submodule counts as the empty directory it becomes.
 */
async function checkTree(git: IsoGit, dir: string, commit: string, limits: ExtractLimits): Promise<void> {
  // its messages name the repository's files, and the request's source
  const checker = new EntryChecker(limits, { noun: "file in the repository", field: "source" });
  const sizes = new GitBlobSizes(path.join(dir, ".git"));
  const known = new Map<string, number>();
  try {
    await git.walk({
      fs,
      dir,
      trees: [git.TREE({ ref: commit })],
      map: async (filepath, [entry]) => {
        if (!entry || filepath === ".") return true;
        const type = await entry.type();
        const mode = (await entry.mode()) ?? 0;
        if (type === "tree") {
          checker.check({ name: `${filepath}/`, kind: "directory", mode, size: 0 });
          return true;
        }
        if ((mode & 0o170000) === 0o120000)
          throw new AttuneError(
            ErrorCodes.ESYMLINK,
            `file in the repository "${quoteName(filepath)}" is a symbolic link; packs may not contain links`,
            { path: filepath, details: { field: "source", entry: filepath } },
          );
        if (type === "commit") {
          // a submodule: checked out as an empty directory, counted like one
          checker.check({ name: `${filepath}/`, kind: "directory", mode, size: 0 });
          return null;
        }
        if (type !== "blob") return null;
        const oid = await entry.oid();
        let size = known.get(oid);
        if (size === undefined) {
          size = sizes.size(oid);
          known.set(oid, size);
        }
        checker.check({ name: filepath, kind: "file", mode, size });
        return true;
      },
    });
  } finally {
    sizes.close();
  }
}

/**
 * isomorphic-git prints each failed checkout task's stack to the console before it throws; the
 * error it throws is reported (EFETCH, with the cause), so those lines are only noise on a user's
 * terminal or in the API's output. Nothing else of ours writes to console.error meanwhile.
 */
let quieted = 0;
let consoleError: typeof console.error | null = null;

async function withoutCheckoutNoise<T>(run: () => Promise<T>): Promise<T> {
  // counted, so that overlapping checkouts (API requests) restore the console exactly once
  if (quieted++ === 0) {
    const original = console.error;
    consoleError = original;
    console.error = (...args: unknown[]) => {
      if (typeof args[0] === "string" && args[0].startsWith("[isomorphic-git checkout]")) return;
      original(...args);
    };
  }
  try {
    return await run();
  } finally {
    if (--quieted === 0 && consoleError) {
      console.error = consoleError;
      consoleError = null;
    }
  }
}

type IsoGit = (typeof import("isomorphic-git"))["default"];

/** info/refs answered in full, but not with what a git server sends (a proxy's or an app's reply). */
function notAnAdvertisement(refs: URL, bytes: number, cause: unknown): AttuneError {
  const shown = redactUrl(refs.href);
  return new AttuneError(
    ErrorCodes.EFETCH,
    `source: ${shown} is not a valid git ref advertisement: its ${bytes} bytes arrived whole but do not end with a flush-pkt ("0000")`,
    {
      cause,
      details: { field: "source", url: shown, bytes, malformed: true },
      hint: "check the repository URL, and that a git server answers it (not a proxy or a web application in its place)",
    },
  );
}

/**
 * isomorphic-git reads the ref advertisement (the answer to info/refs) with a pkt-line reader
 * that takes any error of the body for its end: a reply cut short, stalled or over the download
 * cap reads as a shorter list of refs (a missing ref, an empty repository), or even as a whole
 * one. So the client given to isomorphic-git records the first error of a request or of a
 * response body, and any later request fails with it at once; `failure` is then reported in
 * preference to whatever isomorphic-git concluded, and even when it concluded nothing was wrong.
 */
function recordingHttp(inner: HttpClient): { http: HttpClient; failure: () => { error: unknown } | null } {
  let failure: { error: unknown } | null = null;
  const record = (error: unknown): never => {
    failure ??= { error };
    throw error;
  };
  async function* watched(
    body: AsyncIterableIterator<Uint8Array>,
    refs: URL | null,
    headers: Record<string, string>,
  ): AsyncGenerator<Uint8Array, void, undefined> {
    // a ref advertisement ends with a flush-pkt ("0000"): one sent without a Content-Length and cut
    // short by a closed connection ends without it, which no transport error reports
    let head = "";
    let tail = "";
    let bytes = 0;
    try {
      for await (const chunk of body) {
        bytes += chunk.length;
        if (refs) {
          const text = Buffer.from(chunk).toString("latin1");
          if (head.length < 4) head = (head + text).slice(0, 4);
          tail = (tail + text).slice(-4);
        }
        yield chunk;
      }
    } catch (e) {
      record(e);
    }
    // only for what starts as pkt-lines (4 hex digits of length): any other body (an error page, a
    // server's message) is isomorphic-git's to refuse, quoting it
    if (refs && /^[0-9a-f]{4}$/.test(head) && tail !== "0000") {
      const missing = new Error("the ref advertisement has no closing flush-pkt");
      // a body known to be whole (all its Content-Length, or the chunked end, arrived: a cut one
      // fails in the transport) that lacks it is not a ref advertisement; only a body that ends
      // where the connection closes may have been cut short
      const declared = Number(headers["content-length"] ?? NaN);
      const whole =
        (Number.isFinite(declared) && bytes === declared) ||
        /\bchunked\b/i.test(headers["transfer-encoding"] ?? "");
      record(
        whole ? notAnAdvertisement(refs, bytes, missing) : truncated("source", refs, bytes, NaN, missing),
      );
    }
  }
  return {
    http: {
      async request(req: GitHttpRequest): Promise<GitHttpResponse> {
        if (failure) throw failure.error;
        const res = await inner.request(req).catch(record);
        const refs = /\/info\/refs\?service=git-upload-pack$/.test(req.url) ? new URL(req.url) : null;
        return res.body
          ? { ...res, body: watched(res.body, res.statusCode === 200 ? refs : null, res.headers ?? {}) }
          : res;
      },
    },
    failure: () => failure,
  };
}

/**
 * Tags and branches: a shallow single-branch clone (depth 1) — one commit's objects only.
 * A 40-hex commit SHA cannot be asked for directly (servers refuse unadvertised wants by
 * default), so we fetch every branch's full history and check the commit out: slower, but
 * it works against any server. `.git` is removed; the resolved commit is recorded.
 */
/**
 * What the ref that was cloned is: a name that is both a tag and a branch resolves to the tag
 * (isomorphic-git looks a name up as refs/tags/… before refs/heads/…; `git clone --branch` would
 * take the branch), so a tag of that name in the clone is the one that was used.
 */
async function kindOfRef(
  git: IsoGit,
  dir: string,
  ref: string | undefined,
): Promise<"tag" | "branch" | "commit"> {
  if (ref === undefined || ref.startsWith("refs/heads/")) return "branch";
  if (isCommitSha(ref)) return "commit";
  if (ref.startsWith("refs/tags/")) return "tag";
  const tag = await git
    .resolveRef({ fs, dir, ref: `refs/tags/${ref}`, depth: 1 })
    .then(() => true)
    .catch(() => false);
  return tag ? "tag" : "branch";
}

export function gitSource(
  given: string,
  ref?: string,
  opts: {
    headers?: Record<string, string>;
    /** the registry the URL came from: a 401/403 then hints at its headers */
    registryName?: string;
  } = {},
): Source {
  // URL schemes are case-insensitive (RFC 3986) and the archive source takes `HTTPS://`, but
  // isomorphic-git picks its transport by the exact string ("unrecognized transport protocol")
  const url = given.replace(/^[a-z][a-z0-9+.-]*(?=:\/\/)/i, (scheme) => scheme.toLowerCase());
  return {
    type: "git",
    async fetch(stagingDir: string, ctx: FetchContext): Promise<FetchResult> {
      if (ref !== undefined) validateGitRef(ref);
      checkGitUrl(url, ref);
      ctx.policy.checkUrl(url, "source");
      const limits = resolveLimits(ctx.limits);
      const transport = recordingHttp(
        policyGitHttp(ctx.policy, {
          maxObjectBytes: limits.maxEntryBytes,
          signal: ctx.signal,
          onBytes: (bytes) => ctx.onProgress?.({ phase: "fetch", bytes }),
        }),
      );
      const http = transport.http;
      const dir = stagingDir;
      const headers = opts.headers ?? {};
      // loaded here, not at import: only git installs need it, and it is ~0.15 s of start-up
      const { default: git } = await import("isomorphic-git");
      try {
        // fetched without checking out: the tree is checked against the caps first (below)
        let commit: string;
        if (ref !== undefined && isCommitSha(ref)) {
          await git.clone({ fs, http, dir, url, headers, noCheckout: true, singleBranch: false });
          try {
            await git.readCommit({ fs, dir, oid: ref.toLowerCase() });
          } catch (e) {
            // the SHA of a tree or a blob is named as such (gitError)
            if ((e as { code?: string }).code === "ObjectTypeError") throw e;
            throw Object.assign(new Error(`commit ${ref} not found`), { code: "NotFoundError", cause: e });
          }
          commit = ref.toLowerCase();
        } else {
          // noTags must stay false: it breaks cloning a tag (see TOOLCHAIN.md)
          await git.clone({
            fs,
            http,
            dir,
            url,
            headers,
            ref,
            singleBranch: true,
            depth: 1,
            noCheckout: true,
          });
          commit = await git.resolveRef({ fs, dir, ref: "HEAD" });
        }
        // a clone that "succeeded" on a ref advertisement cut short is not one
        const failed = transport.failure();
        if (failed) throw failed.error;
        await checkTree(git, dir, commit, limits);
        await withoutCheckoutNoise(() =>
          git.checkout({
            fs,
            dir,
            ref: commit,
            force: true,
            noUpdateHead: ref === undefined || !isCommitSha(ref),
          }),
        );
        const resolvedCommit = await git.resolveRef({ fs, dir, ref: "HEAD" });
        const branch = ref ?? (await git.currentBranch({ fs, dir }).catch(() => undefined)) ?? null;
        const refKind = await kindOfRef(git, dir, ref);
        await fs.promises.rm(path.join(dir, ".git"), { recursive: true, force: true });
        return {
          sourceType: "git",
          sourceUrl: url,
          sourceRef: branch,
          resolvedCommit,
          archiveChecksum: null,
          expectedChecksum: null,
          registryName: null,
          details: { refKind },
        };
      } catch (e) {
        await emptyDir(dir);
        throw gitError(transport.failure()?.error ?? e, url, ref, opts.registryName);
      }
    },
  };
}
