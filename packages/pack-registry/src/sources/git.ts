import fs from "node:fs";
import path from "node:path";
import type { GitHttpRequest, GitHttpResponse, HttpClient } from "isomorphic-git";
import { AttuneError, ErrorCodes, redactUrl } from "@attune/pack-storage";
import { registryAuthHint } from "../net/fetch-buffer";
import { policyGitHttp } from "../net/git-http";
import { truncated } from "../net/request";
import { isCommitSha, validateGitRef } from "../policy/git-ref";
import { resolveLimits } from "../extract/limits";
import { unsafe } from "../extract/entry-checker";
import { checkoutTree, peelToCommit, treeHint } from "./git-tree";
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

/**
 * The server said on its progress channel that it could not send the pack ("fatal: …"): that is
 * the failure, whatever isomorphic-git made of the pack that ended there. git's pack-objects
 * refuses a tree entry with an empty name ("empty filename in tree entry"), so that tree never
 * arrives to be checked here: refused like the name itself.
 */
function remoteFailure(e: unknown, shown: string, ref: string | undefined, said: string[]): AttuneError {
  const text = quoteRemote(said.join("; "));
  if (said.some((l) => /empty filename in tree entry/i.test(l))) {
    const refused = unsafe(
      "",
      `a tree entry has an empty name (the server refused to send the tree: "${text}")`,
      treeHint({ ref, repo: shown }),
      { noun: "file in the repository", field: "source" },
    );
    return new AttuneError(refused.code, refused.message, {
      cause: e,
      hint: refused.hint,
      details: { ...refused.details, ref: ref ?? null, remote: text },
    });
  }
  return new AttuneError(ErrorCodes.EFETCH, `git clone of ${shown} failed: the server said "${text}"`, {
    cause: e,
    details: { field: "source", url: shown, remote: text },
    hint: "the server could not send the repository (it may be damaged: git fsck on the server says more); retry, or tell the repository's maintainers",
  });
}

/** Where isomorphic-git looks a ref name up in an advertisement, in its order (its `refpaths`). */
function advertisedAs(ref: string, advertised: Advertised | null): string | null {
  if (!advertised) return null;
  const names = [ref, `refs/${ref}`, `refs/tags/${ref}`, `refs/heads/${ref}`, `refs/remotes/${ref}`];
  return names.find((n) => advertised.refs.has(n)) ?? null;
}

function gitError(
  e: unknown,
  url: string,
  givenRef: string | undefined,
  registryName: string | undefined,
  advertised: Advertised | null,
  remoteSaid: string[] = [],
): AttuneError {
  if (e instanceof AttuneError) return e;
  const err = e as {
    code?: string;
    message?: string;
    data?: {
      statusCode?: number;
      expected?: string;
      actual?: string;
      what?: string;
      filepath?: string;
      message?: string;
    };
  };
  // HEAD is cloned as the default branch, and fails as it does
  const ref = givenRef === "HEAD" ? undefined : givenRef;
  // what messages and details quote: no secret query value (`?token=`) of the URL
  const shown = redactUrl(url);
  // our http plugin's errors can come back wrapped by isomorphic-git
  const inner = (e as { cause?: unknown })?.cause;
  if (inner instanceof AttuneError) return inner;
  if (remoteSaid.length > 0) return remoteFailure(e, shown, givenRef, remoteSaid);
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
    // never say that a ref the server advertised is missing: something else was not found
    const listed = isCommitSha(ref) ? null : advertisedAs(ref, advertised);
    if (err.data?.what === "HEAD" || listed !== null)
      return new AttuneError(
        ErrorCodes.EFETCH,
        `git clone of ${shown} at "${ref}" failed: ${err.data?.what === "HEAD" ? "the server advertises no HEAD (its HEAD names a branch that does not exist)" : quoteRemote(err.message ?? String(e))}`,
        {
          cause: e,
          details: { field: "source", url: shown, ref, ...(listed ? { advertised: listed } : {}) },
          hint: "point the repository's HEAD at an existing branch (git symbolic-ref HEAD refs/heads/main on the server), then retry",
        },
      );
    return new AttuneError(ErrorCodes.ENOTFOUND, `git ref "${ref}" was not found in ${shown}`, {
      cause: e,
      details: { field: "ref", ref },
      hint: /^[0-9a-f]{4,39}$/i.test(ref)
        ? "an abbreviated commit SHA is not accepted (it could name a branch too): give all 40 hex digits"
        : "check the tag, branch or commit SHA (git ls-remote lists them)",
    });
  }
  if (err.code === "UnsafeFilepathError") {
    // isomorphic-git's own refusal of a name (ours, in git-tree.ts, comes first and says why)
    const entry = String(err.data?.filepath ?? "");
    return unsafe(entry, "git refuses to check out this name", treeHint({ ref: givenRef, repo: shown }), {
      noun: "file in the repository",
      field: "source",
    });
  }
  const status = err.data?.statusCode;
  // isomorphic-git's InternalError asks the user to report it to isomorphic-git: only its cause is shown
  const internal = err.code === "InternalError";
  const said = internal ? (err.data?.message ?? "internal error") : (err.message ?? String(e));
  return new AttuneError(ErrorCodes.EFETCH, `git clone of ${shown} failed: ${quoteRemote(said)}`, {
    cause: e,
    details: { field: "source", url: shown, ...(status ? { status } : {}) },
    hint: internal
      ? "the git client could not read what the repository holds: check the repository with git fsck"
      : status === 401 || status === 403
        ? registryName !== undefined
          ? registryAuthHint(registryName)
          : "check the URL and that the repository is open to you: a URL cannot carry credentials (a private repository is installed through a registry with headers)"
        : status === 404 || err.code === "SmartHttpError"
          ? NOT_A_REPO_HINT
          : "check the repository URL and that the server is reachable",
  });
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
function recordingHttp(inner: HttpClient): {
  http: HttpClient;
  failure: () => { error: unknown } | null;
  /** the repository's URL after the redirects of its info/refs (null before it answered) */
  repository: () => string | null;
} {
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
  let repository: string | null = null;
  return {
    http: {
      async request(req: GitHttpRequest): Promise<GitHttpResponse> {
        if (failure) throw failure.error;
        const res = await inner.request(req).catch(record);
        const refs = /\/info\/refs\?service=git-upload-pack$/.test(req.url) ? new URL(req.url) : null;
        // where the repository was found, after any redirect of its info/refs (`res.url` is final)
        if (refs && res.statusCode === 200) repository = res.url.replace(/\/info\/refs(\?.*)?$/, "");
        return res.body
          ? { ...res, body: watched(res.body, res.statusCode === 200 ? refs : null, res.headers ?? {}) }
          : res;
      },
    },
    failure: () => failure,
    repository: () => repository,
  };
}

/** What the server advertised (info/refs): its refs by full name. */
interface Advertised {
  refs: Map<string, string>;
}

/** The pkt-lines of a whole body: each line's payload and where it ends; null when it is not one. */
function pktLines(body: Buffer): Array<{ payload: Buffer | null; end: number }> | null {
  const out: Array<{ payload: Buffer | null; end: number }> = [];
  for (let i = 0; i < body.length;) {
    const head = body.toString("latin1", i, i + 4);
    if (!/^[0-9a-f]{4}$/.test(head)) return null;
    const len = parseInt(head, 16);
    if (len < 4) {
      out.push({ payload: null, end: i + 4 }); // flush (or delimiter)
      i += 4;
      continue;
    }
    if (i + len > body.length) return null;
    out.push({ payload: body.subarray(i + 4, i + len), end: i + len });
    i += len;
  }
  return out;
}

/**
 * Read the ref advertisement (protocol v1, as isomorphic-git asks for it) and, when `addHead`,
 * give it a HEAD line if it has none. isomorphic-git's fetch looks the remote HEAD up whatever
 * ref it fetches, to name the default branch, and fails with "Could not find HEAD." when the
 * server advertises none: git http-backend leaves HEAD out when it names a branch that does not
 * exist (`git init --bare` makes HEAD `master`; only `main` was pushed), a repository `git clone
 * --branch main` clones. The line added points at the first branch (else the first ref): an
 * object the server advertises, so also a valid "want". Only the name of the default branch is
 * taken from it, which a clone of an explicit ref does not use. Anything that does not parse is
 * passed on unchanged (isomorphic-git reports it).
 */
function readAdvertisement(body: Buffer, addHead: boolean): { body: Buffer; advertised: Advertised | null } {
  const lines = pktLines(body);
  if (!lines) return { body, advertised: null };
  let at = 0;
  const skipFlushes = () => {
    while (at < lines.length && lines[at].payload === null) at++;
  };
  skipFlushes();
  if (lines[at]?.payload?.toString("latin1").startsWith("# service=")) {
    at++;
    skipFlushes();
  }
  const refs = new Map<string, string>();
  let first: number | null = null;
  for (; at < lines.length && lines[at].payload !== null; at++) {
    const text = lines[at].payload!.toString("utf8").replace(/\n$/, "");
    const m = /^([0-9a-f]{40}) ([^\0]+)/.exec(text);
    if (!m) return { body, advertised: null };
    if (m[2] === "capabilities^{}") continue; // no refs at all (an empty repository)
    first ??= at;
    refs.set(m[2], m[1]);
  }
  if (!addHead || refs.has("HEAD") || first === null) return { body, advertised: { refs } };
  const names = [...refs.keys()].filter((n) => !n.endsWith("^{}"));
  const target = refs.get(names.find((n) => n.startsWith("refs/heads/")) ?? names[0]);
  if (target === undefined) return { body, advertised: { refs } };
  const line = `${target} HEAD\n`;
  const pkt = Buffer.from(`${(line.length + 4).toString(16).padStart(4, "0")}${line}`, "latin1");
  const cut = lines[first].end;
  return {
    body: Buffer.concat([body.subarray(0, cut), pkt, body.subarray(cut)]),
    advertised: { refs },
  };
}

/**
 * The client isomorphic-git is given: the ref advertisement is read whole (isomorphic-git reads it
 * whole too), so that what the server advertised is known for error messages, and a HEAD is added
 * when the clone of an explicit ref needs one (readAdvertisement).
 */
function advertisementReader(
  inner: HttpClient,
  addHead: boolean,
): { http: HttpClient; advertised: () => Advertised | null } {
  let advertised: Advertised | null = null;
  return {
    http: {
      async request(req: GitHttpRequest): Promise<GitHttpResponse> {
        const res = await inner.request(req);
        if (!/\/info\/refs\?service=git-upload-pack$/.test(req.url) || res.statusCode !== 200 || !res.body)
          return res;
        const parts: Buffer[] = [];
        for await (const chunk of res.body) parts.push(Buffer.from(chunk));
        const read = readAdvertisement(Buffer.concat(parts), addHead);
        advertised = read.advertised;
        return {
          ...res,
          body: (async function* () {
            yield read.body;
          })(),
        };
      },
    },
    advertised: () => advertised,
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
      // HEAD is the default branch: cloned as without a ref (isomorphic-git would look for a
      // branch or tag named HEAD in the clone, and not find one)
      const wanted = ref === "HEAD" ? undefined : ref;
      const transport = recordingHttp(
        policyGitHttp(ctx.policy, {
          maxObjectBytes: limits.maxEntryBytes,
          signal: ctx.signal,
          onBytes: (bytes) => ctx.onProgress?.({ phase: "fetch", bytes }),
        }),
      );
      // an explicit ref is cloned even when the server advertises no HEAD (readAdvertisement)
      const reader = advertisementReader(transport.http, wanted !== undefined);
      const http = reader.http;
      const dir = stagingDir;
      const gitdir = path.join(dir, ".git");
      const headers = opts.headers ?? {};
      // what the server says on its progress channel: a server that cannot send the pack says why
      // there ("fatal: …"), and the pack just ends; isomorphic-git then only finds objects missing
      const said: string[] = [];
      const onMessage = (line: string) => {
        if (said.length < 20 && /^\s*(fatal|error):/i.test(line)) said.push(line.trim());
      };
      // loaded here, not at import: only git installs need it, and it is ~0.15 s of start-up
      const { default: git } = await import("isomorphic-git");
      try {
        // fetched without checking out: the tree is checked against the caps first (below)
        let commit: string;
        if (wanted !== undefined && isCommitSha(wanted)) {
          await git.clone({ fs, http, dir, url, headers, onMessage, noCheckout: true, singleBranch: false });
          try {
            await git.readCommit({ fs, dir, oid: wanted.toLowerCase() });
          } catch (e) {
            // the SHA of a tree or a blob is named as such (gitError)
            if ((e as { code?: string }).code === "ObjectTypeError") throw e;
            throw Object.assign(new Error(`commit ${wanted} not found`), { code: "NotFoundError", cause: e });
          }
          commit = wanted.toLowerCase();
        } else {
          // noTags must stay false: it breaks cloning a tag (see TOOLCHAIN.md)
          await git.clone({
            fs,
            http,
            dir,
            url,
            headers,
            onMessage,
            ref: wanted,
            singleBranch: true,
            depth: 1,
            noCheckout: true,
          });
          // the commit an annotated tag names
          commit = await peelToCommit(git, gitdir, await git.resolveRef({ fs, dir, ref: "HEAD" }));
        }
        // a clone that "succeeded" on a ref advertisement cut short is not one
        const failed = transport.failure();
        if (failed) throw failed.error;
        // checked as a whole, then written: by us, not by isomorphic-git's checkout (git-tree.ts)
        await checkoutTree(git, gitdir, commit, dir, limits, { ref, repo: redactUrl(url) });
        const branch = ref ?? (await git.currentBranch({ fs, dir }).catch(() => undefined)) ?? null;
        const refKind = await kindOfRef(git, dir, wanted);
        await fs.promises.rm(gitdir, { recursive: true, force: true });
        return {
          sourceType: "git",
          sourceUrl: url,
          sourceRef: branch,
          resolvedCommit: commit,
          archiveChecksum: null,
          expectedChecksum: null,
          registryName: null,
          // where it was cloned from: the URL after the redirects of its info/refs, as an archive's
          details: { refKind, finalUrl: transport.repository() ?? url },
        };
      } catch (e) {
        await emptyDir(dir);
        throw gitError(
          transport.failure()?.error ?? e,
          url,
          ref,
          opts.registryName,
          reader.advertised(),
          said,
        );
      }
    },
  };
}
