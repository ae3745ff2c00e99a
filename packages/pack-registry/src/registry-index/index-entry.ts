import fsSync from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {
  AttuneError,
  ErrorCodes,
  calculateDirectoryChecksum,
  calculateFileChecksum,
  ioError,
  redactUrl,
  renameField,
} from "@attune/pack-storage";
import { archiveTypeFromName, detectArchiveType, extractArchive, type ArchiveType } from "../extract";
import { findPackRoot, loadManifest, type PackManifest } from "../manifest";
import { resolveLimits } from "../extract/limits";
import { isCommitSha, validateGitRef } from "../policy/git-ref";
import { quoteName } from "../quote";
import { checkoutTree, peelToCommit } from "../sources/git-tree";
import { carriesCredentials } from "../policy/url-credentials";
import { parseIndexEntry, type IndexEntry, type InstallSource } from "./schema";

export interface IndexEntryOptions {
  gitUrl?: string;
  gitRef?: string;
  archiveUrl?: string;
  /** the archive published at archiveUrl (its bytes give the checksum); defaults to `packPath` when that is an archive */
  archiveFile?: string;
}

type IsoGit = (typeof import("isomorphic-git"))["default"];

const CONTENT_KINDS = ["actions", "sensors", "triggers", "rules", "workflows"] as const;

function publicUrl(url: string, field: string): string {
  let u: URL | null = null;
  try {
    u = new URL(url);
  } catch {
    /* handled below */
  }
  // never echoed as given: a URL with a password would print the secret back
  if (u && carriesCredentials(u))
    throw new AttuneError(
      ErrorCodes.EINVALID_INPUT,
      `${field}: "${redactUrl(url)}" must not contain a user name or password`,
      {
        details: { field },
        hint: "publish the URL anyone allowed can fetch; a registry's credentials go in its headers (config.yaml)",
      },
    );
  if (!u || (u.protocol !== "https:" && u.protocol !== "http:"))
    throw new AttuneError(ErrorCodes.EINVALID_INPUT, `${field}: "${redactUrl(url)}" is not an http(s) URL`, {
      details: { field },
      hint: "give the https URL it is published at",
    });
  // an index's URLs are written as published: a space is %20 (the index would refuse the entry)
  if (/\s/.test(url))
    throw new AttuneError(ErrorCodes.EINVALID_INPUT, `${field}: "${redactUrl(url)}" contains white space`, {
      details: { field },
      hint: "give the URL percent-encoded, as it is published (a space is %20)",
    });
  if (!/^https?:\/\//i.test(url))
    throw new AttuneError(ErrorCodes.EINVALID_INPUT, `${field}: "${redactUrl(url)}" is not an http(s) URL`, {
      details: { field },
      hint: "give the https URL it is published at (https://…)",
    });
  // a git URL's #fragment is never sent: an entry with one could never be installed
  if (field === "gitUrl" && u.hash !== "")
    throw new AttuneError(
      ErrorCodes.EINVALID_INPUT,
      `gitUrl: "${redactUrl(url)}" has a #fragment: the ref is not part of a git URL`,
      { details: { field }, hint: "give the URL without it, and the tag as gitRef" },
    );
  // nor can a query work: git adds /info/refs after the whole URL
  if (field === "gitUrl" && u.search !== "")
    throw new AttuneError(
      ErrorCodes.EINVALID_INPUT,
      `gitUrl: "${redactUrl(url)}" has a ?query: git adds /info/refs after it, so no repository is found`,
      { details: { field }, hint: "give the URL without the query (a registry's headers carry credentials)" },
    );
  // the scheme as everyone writes it (the installer takes any case, other tools may not)
  return url.replace(/^[a-z][a-z0-9+.-]*(?=:)/i, (scheme) => scheme.toLowerCase());
}

/**
 * The archive file given as archiveFile, whose bytes give the source's checksum: a .tar.gz, .tgz,
 * .tar or .zip by its name and its first bytes alike (a README's checksum would be accepted by the
 * index and fail every install). Its type.
 */
async function checkArchiveFile(file: string): Promise<ArchiveType> {
  const refuse = (
    message: string,
    hint = "give the .tar.gz, .tgz, .tar or .zip file published at archiveUrl",
  ) =>
    new AttuneError(ErrorCodes.EINVALID_INPUT, `archiveFile: ${message}`, {
      details: { field: "archiveFile" },
      hint,
    });
  const st = await fs.stat(file).catch((e) => {
    throw renameField(ioError(e, file, "archiveFile: cannot read"), "archiveFile");
  });
  if (!st.isFile()) throw refuse(`${file} is not a regular file`);
  if (archiveTypeFromName(file) === null)
    throw refuse(`${path.basename(file)} is not a .tar.gz, .tgz, .tar or .zip archive`);
  try {
    return await detectArchiveType(file);
  } catch (err) {
    if (!(err instanceof AttuneError) || err.code !== ErrorCodes.EUNSAFE_ARCHIVE) throw err;
    throw refuse(err.message, err.hint);
  }
}

/**
 * The archive URL's name, when it names a type, must be the file's: the installer checks the
 * downloaded bytes against it. Its path must decode, as the installer decodes it.
 */
function checkArchiveUrlName(url: string, file: string, type: ArchiveType): void {
  const refuse = (message: string, hint: string) =>
    new AttuneError(ErrorCodes.EINVALID_INPUT, `archiveUrl: "${redactUrl(url)}" ${message}`, {
      details: { field: "archiveUrl" },
      hint,
    });
  let name: string;
  try {
    name = decodeURIComponent(new URL(url).pathname);
  } catch {
    throw refuse(
      "holds malformed percent-encoding in its path",
      "escape a literal % as %25, and use whole UTF-8 sequences (%C3%A9)",
    );
  }
  const promised = archiveTypeFromName(name);
  if (promised !== null && promised !== type)
    throw refuse(
      `names a ${promised} archive, but ${path.basename(file)} is ${type}`,
      `publish the archive under a name that ends in ${type === "tar.gz" ? ".tar.gz or .tgz" : `.${type}`}, or give the file published there`,
    );
}

/**
 * A definition file named only `.yaml`: the index lists definitions by their file names, and an
 * empty one is refused there. Said of the pack's file (`where` it is found), not of the index.
 */
function unnamedDefinition(kind: (typeof CONTENT_KINDS)[number], where: string): AttuneError {
  return new AttuneError(
    ErrorCodes.EMANIFEST,
    `${where}: the ${kind.replace(/s$/, "")} has an empty name (the index lists each by its file name, without .yaml)`,
    {
      details: { field: `contents.${kind}`, file: where },
      hint: "rename it to <name>.yaml, or remove it from the pack",
    },
  );
}

/**
 * Names of the YAML definitions in the pack's conventional folders (`actions/*.yaml`, ...).
 * `shown` is how a file of the pack is named in an error (its path, or the archive and its entry).
 */
async function listContents(root: string, shown: (rel: string) => string): Promise<IndexEntry["contents"]> {
  const out = { actions: [], sensors: [], triggers: [], rules: [], workflows: [] } as Record<
    (typeof CONTENT_KINDS)[number],
    string[]
  >;
  for (const kind of CONTENT_KINDS) {
    const dirs = kind === "workflows" ? ["workflows", "actions/workflows"] : [kind];
    for (const d of dirs) {
      const entries = await fs.readdir(path.join(root, d), { withFileTypes: true }).catch(() => []);
      for (const e of entries) {
        if (!e.isFile() || !/\.ya?ml$/i.test(e.name)) continue;
        const name = e.name.replace(/\.ya?ml$/i, "");
        if (name === "") throw unnamedDefinition(kind, shown(path.join(d, e.name)));
        out[kind].push(name);
      }
    }
    out[kind] = [...new Set(out[kind])].sort();
  }
  return out;
}

/** The git repository a directory lies in: its work tree's top, its git dir, and where its objects are. */
interface LocalRepository {
  top: string;
  gitdir: string;
  /** the repository's common directory (objects, refs): the git dir, or a worktree's main one */
  common: string;
}

/**
 * The git work tree `dir` lies in (the nearest `.git` above it, a directory, or a file saying
 * `gitdir: …` as worktrees and submodules have), or null when there is none.
 */
async function localRepository(dir: string): Promise<LocalRepository | null> {
  let top = await fs.realpath(dir);
  for (;;) {
    const dotgit = path.join(top, ".git");
    const st = await fs.lstat(dotgit).catch(() => null);
    if (st?.isDirectory() || st?.isFile()) {
      let gitdir = dotgit;
      if (st.isFile()) {
        const m = /^gitdir:\s*(.+?)\s*$/m.exec(await fs.readFile(dotgit, "utf8").catch(() => ""));
        if (!m) throw notARepository(dir, dotgit);
        gitdir = path.resolve(top, m[1]);
      }
      const commondir = await fs.readFile(path.join(gitdir, "commondir"), "utf8").catch(() => null);
      const common = commondir === null ? gitdir : path.resolve(gitdir, commondir.trim());
      const objects = await fs.stat(path.join(common, "objects")).catch(() => null);
      if (!objects?.isDirectory()) throw notARepository(dir, dotgit);
      return { top, gitdir, common };
    }
    const up = path.dirname(top);
    if (up === top) return null;
    top = up;
  }
}

function notARepository(dir: string, dotgit: string): AttuneError {
  return new AttuneError(
    ErrorCodes.EINVALID_INPUT,
    `path: ${dir} is inside a git work tree, but ${dotgit} is not a git repository that can be read`,
    {
      details: { field: "path" },
      hint: "a pack in a git work tree is read from the commit at gitRef: repair the repository (git status says more), or give a copy of the pack outside it",
    },
  );
}

/**
 * Whether the repository tracks files in `dir` (its index lists one there): a pack directory that
 * merely lies below a repository it is not part of (untracked, ignored, or a home directory kept in
 * git) is not read from that repository. An index that cannot be read counts as tracking it.
 */
async function tracksFilesIn(repo: LocalRepository, dir: string): Promise<boolean> {
  const rel = path
    .relative(repo.top, await fs.realpath(dir))
    .split(path.sep)
    .join("/");
  const { default: git } = await import("isomorphic-git");
  const files = await git.listFiles({ fs: fsSync, gitdir: repo.gitdir }).catch(() => null);
  if (files === null) return true;
  return rel === "" ? files.length > 0 : files.some((f) => f.startsWith(`${rel}/`));
}

/**
 * The commit `ref` names in the local repository, looked up as the git source looks it up in the
 * remote one: a 40-hex SHA as such, `refs/…` exactly, else a tag before a branch of that name
 * (HEAD: the commit checked out). Annotated tags are peeled. Null when the repository lacks it.
 */
async function localCommit(git: IsoGit, repo: LocalRepository, ref: string): Promise<string | null> {
  const resolve = async (gitdir: string, name: string) =>
    git.resolveRef({ fs: fsSync, gitdir, ref: name }).catch(() => null);
  let oid: string | null = null;
  if (isCommitSha(ref)) {
    const found = await git
      .readObject({ fs: fsSync, gitdir: repo.common, oid: ref.toLowerCase(), format: "content" })
      .catch(() => null);
    oid = found ? ref.toLowerCase() : null;
  } else if (ref === "HEAD") {
    // a worktree's HEAD is its own; the branch it names is the repository's
    const head = (await fs.readFile(path.join(repo.gitdir, "HEAD"), "utf8").catch(() => "")).trim();
    const named = /^ref:\s*(\S+)$/.exec(head)?.[1];
    oid = named ? await resolve(repo.common, named) : /^[0-9a-f]{40}$/.test(head) ? head : null;
  } else {
    for (const name of ref.startsWith("refs/") ? [ref] : [`refs/tags/${ref}`, `refs/heads/${ref}`]) {
      oid = await resolve(repo.common, name);
      if (oid !== null) break;
    }
  }
  return oid === null ? null : peelToCommit(git, repo.common, oid);
}

/**
 * The pack a clone of `ref` installs, read from the publisher's own repository: the commit's tree
 * checked and written out by the git source's own code (checkoutTree), into a temp directory, and
 * its pack root found as the installer finds it. Not the work tree, which may be at another commit
 * or hold files git does not track (.DS_Store, node_modules): an entry built from those would fail
 * every install (EINTEGRITY, or another version).
 */
async function withCommittedPackRoot<T>(
  dir: string,
  repo: LocalRepository,
  ref: string,
  fn: (root: string, shown: (rel: string) => string, commit: string) => Promise<T>,
): Promise<T> {
  const { default: git } = await import("isomorphic-git");
  const label = `${repo.top} at "${quoteName(ref)}"`;
  // what the git client could not read in the repository (not an AttuneError: ours say what they refuse)
  const unreadable = (e: unknown): unknown => {
    if (e instanceof AttuneError) return e;
    const err = e as { code?: string; message?: string; data?: { message?: string } };
    const said = err.code === "InternalError" ? err.data?.message : (err.message ?? String(e));
    return new AttuneError(
      ErrorCodes.EIO,
      `gitRef: cannot read "${quoteName(ref)}" from the git repository ${repo.top}: ${quoteName(said ?? "unknown error")}`,
      {
        cause: e,
        path: repo.common,
        details: { field: "gitRef" },
        hint: "check the repository with git fsck; one that borrows objects (alternates) or misses some (a partial clone) cannot be read here: build the entry in a fresh clone",
      },
    );
  };
  const commit = await localCommit(git, repo, ref).catch((e: unknown) => {
    const err = e as { code?: string; data?: { actual?: string } };
    if (err.code !== "ObjectTypeError") throw unreadable(e);
    throw new AttuneError(
      ErrorCodes.EINVALID_INPUT,
      `gitRef: "${quoteName(ref)}" names a ${err.data?.actual ?? "non-commit object"} in ${repo.top}, not a commit`,
      { details: { field: "gitRef" }, hint: "give the tag, branch or commit SHA of the commit to publish" },
    );
  });
  if (commit === null)
    throw new AttuneError(
      ErrorCodes.ENOTFOUND,
      `gitRef: "${quoteName(ref)}" is not in the git repository of ${dir} (${repo.top}): the entry is built from the commit at that ref, as a clone checks it out`,
      {
        details: { field: "gitRef", ref },
        hint: isCommitSha(ref)
          ? "fetch the commit into the local repository (git fetch), then run this again"
          : /^[0-9a-f]{4,39}$/i.test(ref)
            ? `if ${ref} is an abbreviated commit SHA, give all 40 hex digits (git rev-parse ${ref} prints them); else tag the commit to publish (git tag ${ref}) or fetch the ref, then run this again`
            : `tag the commit to publish (git tag ${ref}) or fetch the ref (git fetch origin ${ref}), then run this again`,
      },
    );
  // the directory given must be the one a clone installs (or the repository's top): a clone's pack
  // root is its top, pack/ or its single subdirectory holding a pack.yaml, so a directory deeper
  // down is refused before the tree is read (whose other files would be checked, and refused, first)
  const given = path.relative(repo.top, await fs.realpath(dir));
  const notThePack = (where: string) =>
    new AttuneError(
      ErrorCodes.EINVALID_INPUT,
      `path: ${dir} is not the pack a clone of "${quoteName(ref)}" installs: ${where}`,
      {
        details: { field: "path" },
        hint: "give the repository's top (or the pack's directory there); a repository installs one pack, found at its top, in pack/, or in its single subdirectory holding a pack.yaml: publish a pack deeper in a repository as an archive (--archive-url), or from a repository of its own",
      },
    );
  const givenShown = given.split(path.sep).join("/");
  if (given.split(path.sep).length > 1)
    throw notThePack(
      `it is ${givenShown}/ in the repository ${repo.top}, and a clone installs the pack at the repository's top, in pack/, or in its single subdirectory holding a pack.yaml`,
    );
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "attune-index-entry-"));
  const tree = path.join(tmp, "tree");
  // messages name the ref's tree in the repository, not the temp directory
  const named = (e: unknown): unknown =>
    e instanceof AttuneError
      ? new AttuneError(e.code, e.message.split(tree).join(label), {
          cause: e,
          hint: e.hint?.split(tree).join(label),
          details: e.details,
        })
      : e;
  try {
    await fs.mkdir(tree);
    await checkoutTree(git, repo.common, commit, tree, resolveLimits(), { ref, repo: repo.top }).catch(
      (e: unknown) => {
        throw unreadable(e);
      },
    );
    const root = await findPackRoot(tree).catch((e: unknown) => {
      // a subdirectory given, and no pack a clone would find: said of the directory given
      if (given !== "" && e instanceof AttuneError && e.code === ErrorCodes.EMANIFEST)
        throw notThePack(
          `a clone finds no single pack root in its tree (${e.message
            .replace(/^pack\.yaml: /, "pack.yaml ")
            .split(tree)
            .join(label)})`,
        );
      throw named(e);
    });
    const found = path.relative(tree, root);
    if (given !== "" && given !== found)
      throw notThePack(
        `in its tree the pack root is ${found === "" ? "the repository's top" : `${found.split(path.sep).join("/")}/`}`,
      );
    return await fn(
      root,
      (rel) => `${label}: ${path.join(found, rel).split(path.sep).join("/")}`,
      commit,
    ).catch((e: unknown) => {
      throw named(e);
    });
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

async function withPackRoot<T>(
  packPath: string,
  fn: (root: string, archive: string | null, shown?: (rel: string) => string, commit?: string) => Promise<T>,
  gitRef?: string,
): Promise<T> {
  const st = await fs.stat(packPath).catch((e) => {
    throw ioError(e, packPath, "read pack");
  });
  if (st.isDirectory()) {
    // in a git work tree, a git source's entry is built from the commit at its ref
    const repo = gitRef === undefined ? null : await localRepository(packPath);
    if (repo && gitRef !== undefined && (await tracksFilesIn(repo, packPath)))
      return withCommittedPackRoot(packPath, repo, gitRef, (root, shown, commit) =>
        fn(root, null, shown, commit),
      );
    if (gitRef === "HEAD")
      throw new AttuneError(
        ErrorCodes.EINVALID_INPUT,
        `gitRef: HEAD names nothing fixed for ${packPath}, which is not in a git work tree: a clone of HEAD installs whatever the repository's default branch holds then`,
        { details: { field: "gitRef" }, hint: "give the tag (or the commit SHA) of the commit to publish" },
      );
    return fn(await findPackRoot(packPath), null);
  }
  if (!st.isFile() || archiveTypeFromName(packPath) === null) {
    throw new AttuneError(
      ErrorCodes.EINVALID_INPUT,
      `path: ${packPath} is neither a directory nor a .tar.gz/.tgz/.tar/.zip`,
      {
        details: { field: "path" },
      },
    );
  }
  return withExtracted(packPath, (root) => fn(root, packPath));
}

/** Run `fn` on the pack root of `archive`, safely extracted into a temporary directory. */
async function withExtracted<T>(archive: string, fn: (root: string) => Promise<T>): Promise<T> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "attune-index-entry-"));
  try {
    const dest = path.join(tmp, "x");
    await extractArchive(archive, dest);
    return await fn(await findPackRoot(dest));
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

/**
 * An archiveFile given beside a pack directory must deliver that very pack: the entry's metadata
 * comes from the directory, the checksum from the archive, and an archive of another version (or
 * of stale files) would publish an entry whose every install fails ("delivered a pack.yaml with
 * version 1.1.0") or installs files the entry does not describe.
 */
async function checkArchiveHoldsPack(file: string, root: string, m: PackManifest): Promise<void> {
  const wrong = (message: string) =>
    new AttuneError(ErrorCodes.EINVALID_INPUT, `archiveFile: ${file} ${message}`, {
      details: { field: "archiveFile" },
      hint: "build the archive from this pack's directory (e.g. tar czf pack.tgz -C <dir> .), or pass the archive itself as the path",
    });
  await withExtracted(file, async (inside) => {
    const a = await loadManifest(inside);
    if (a.ref !== m.ref || a.version !== m.version)
      throw wrong(`holds ${a.ref} ${a.version}, not ${m.ref} ${m.version}`);
    const [want, got] = await Promise.all([
      calculateDirectoryChecksum(root),
      calculateDirectoryChecksum(inside),
    ]);
    if (want !== got)
      throw wrong(
        `holds other files than ${m.ref} ${m.version} here (directory checksum ${got}, here ${want})`,
      );
  });
}

/**
 * Build an index entry from a pack directory (or a pack archive). A git source carries the pack
 * root's directory checksum (what the installer verifies after cloning); an archive source carries
 * the checksum of the archive's bytes (DESIGN.md §6).
 */
export async function buildIndexEntry(packPath: string, opts: IndexEntryOptions): Promise<IndexEntry> {
  if (!opts.gitUrl && !opts.archiveUrl) {
    throw new AttuneError(ErrorCodes.EINVALID_INPUT, "give a git URL and ref, or an archive URL", {
      details: { field: "gitUrl" },
      hint: "--git-url U --git-ref R, or --archive-url U",
    });
  }
  if (opts.gitUrl && !opts.gitRef) {
    throw new AttuneError(
      ErrorCodes.EINVALID_INPUT,
      "gitRef: a git source needs the tag (or commit) to install",
      { details: { field: "gitRef" } },
    );
  }
  // checked before the pack is read: in a git work tree, that reads the commit at gitRef
  const gitRef = opts.gitUrl ? validateGitRef(opts.gitRef!, "gitRef") : undefined;
  const gitUrl = opts.gitUrl ? publicUrl(opts.gitUrl, "gitUrl") : undefined;
  return withPackRoot(
    packPath,
    async (root, archiveFromPath, shownInTree, commit) => {
      const m = await loadManifest(root);
      const sources: InstallSource[] = [];
      if (gitUrl !== undefined && gitRef !== undefined) {
        sources.push({
          type: "git",
          url: gitUrl,
          // HEAD is the commit checked out here, which the repository's default branch (what a
          // clone of HEAD installs) need not be: the entry names that very commit instead
          ref: gitRef === "HEAD" && commit !== undefined ? commit : gitRef,
          checksum: await calculateDirectoryChecksum(root),
        });
      }
      if (opts.archiveUrl) {
        const file = opts.archiveFile ?? archiveFromPath;
        if (!file) {
          throw new AttuneError(
            ErrorCodes.EINVALID_INPUT,
            "archiveFile: the archive's checksum needs the archive file itself",
            {
              details: { field: "archiveFile" },
              hint: "pass the .tar.gz/.zip you publish (as the path, or as archiveFile)",
            },
          );
        }
        const url = publicUrl(opts.archiveUrl, "archiveUrl");
        // the pack's own archive was checked as it was unpacked
        const type = opts.archiveFile ? await checkArchiveFile(file) : archiveTypeFromName(file)!;
        checkArchiveUrlName(url, file, type);
        if (file !== archiveFromPath) await checkArchiveHoldsPack(file, root, m);
        sources.push({ type: "archive", url, checksum: await calculateFileChecksum(file) });
      }
      const entry = {
        ref: m.ref,
        label: m.label,
        description: m.description ?? "",
        version: m.version,
        author: m.author ?? "",
        ...(m.email ? { email: m.email } : {}),
        license: m.license ?? "",
        keywords: m.tags,
        runtime_deps: m.runtime_deps,
        ...(m.dependencies.length
          ? { dependencies: m.dependencies.map((d) => (d.range === "*" ? d.ref : `${d.ref}@${d.range}`)) }
          : {}),
        install_sources: sources,
        contents: await listContents(
          root,
          (rel) =>
            shownInTree?.(rel) ??
            (archiveFromPath ? `${archiveFromPath}: ${rel.split(path.sep).join("/")}` : path.join(root, rel)),
        ),
      };
      return parseIndexEntry(entry, `pack ${m.ref}`);
    },
    gitRef,
  );
}
