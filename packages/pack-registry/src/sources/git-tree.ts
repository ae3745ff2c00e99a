// A commit's tree, checked and checked out by us rather than by isomorphic-git: its tree parser
// throws on names it finds unsafe ("The filepath ".." contains unsafe character sequences") and on
// modes it does not know (100664, which old git wrote: "An internal error ... please report this"),
// and its checkout reports what it could not write as an internal error too. Reading raw objects,
// we check every entry of the tree with the archive checker (plus git's own rules about `.git`)
// before a byte is written, and say which entry is refused and why. Used by the git source (on its
// clone) and by `buildIndexEntry` (on the publisher's own repository), so both see the same files.
import fs from "node:fs";
import path from "node:path";
import { AttuneError, ErrorCodes } from "@attune/pack-storage";
import { EntryChecker, unsafe, type EntrySubject } from "../extract/entry-checker";
import type { ExtractLimits } from "../extract/limits";
import { quoteName } from "../quote";
import { GitBlobSizes } from "./git-sizes";

type IsoGit = (typeof import("isomorphic-git"))["default"];
type PromiseFsClient = import("isomorphic-git").PromiseFsClient;

/** Files of a repository: named so in messages, and reported as the request's `source` field. */
const SUBJECT: EntrySubject = { noun: "file in the repository", field: "source" };

/** Where the tree came from, for messages and hints: `git ref "v1.0.0" of https://…`. */
export interface TreeOrigin {
  /** the ref as given (undefined: the default branch) */
  ref: string | undefined;
  /** the repository, as it may be shown (redacted) */
  repo: string;
}

function refText(origin: TreeOrigin): string {
  return origin.ref === undefined ? "its default branch" : `"${quoteName(origin.ref)}"`;
}

/** The hint of a refused entry: the tree at that ref is what has to change, not an archive. */
export function treeHint(origin: TreeOrigin): string {
  return `the tree of ${origin.repo} at ${refText(origin)} is refused as a whole: fix the repository (rename or remove this entry in a new commit) and use a ref that points at the fixed commit`;
}

/** An archive checker's refusal (whose hint speaks of rebuilding an archive), said of a repository. */
function asTreeError(e: unknown, origin: TreeOrigin): unknown {
  if (!(e instanceof AttuneError) || e.code !== ErrorCodes.EUNSAFE_ARCHIVE) return e;
  return new AttuneError(e.code, e.message, {
    cause: e,
    path: e.path,
    details: { ...e.details, ref: origin.ref ?? null },
    hint: treeHint(origin),
  });
}

/**
 * git's own refusals of a tree entry's name (verify_path, which isomorphic-git mirrors): a name
 * that is `.git` once case, trailing dots and spaces (NTFS), an NTFS stream suffix (`.git::$DATA`)
 * and the characters HFS+ ignores are set aside, or the 8.3 short name of `.git` (`git~1`).
 */
function isDotGit(name: string): boolean {
  const hfs = name.replace(/[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]/g, "");
  const ntfs = hfs
    .split(":")[0]
    .toLowerCase()
    .replace(/[. ]+$/, "");
  return ntfs === ".git" || /^\.?git~[1-9]$/.test(ntfs);
}

/** One tree entry, raw: `<octal mode> <name>\0<20-byte id>`. */
interface RawEntry {
  mode: number;
  modeText: string;
  name: string;
  oid: string;
}

function parseTree(buf: Uint8Array, where: string): RawEntry[] {
  const data = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: RawEntry[] = [];
  const decoder = new TextDecoder("utf-8", { fatal: false });
  let i = 0;
  while (i < data.length) {
    const space = data.indexOf(0x20, i);
    const nul = space < 0 ? -1 : data.indexOf(0, space + 1);
    if (space < 0 || nul < 0 || nul + 21 > data.length)
      throw new Error(`tree ${where} is malformed at byte ${i}`);
    const modeText = data.toString("latin1", i, space);
    if (!/^[0-7]{1,7}$/.test(modeText)) throw new Error(`tree ${where} holds a malformed mode at byte ${i}`);
    out.push({
      mode: parseInt(modeText, 8),
      modeText,
      // not valid UTF-8: U+FFFD, which the checker refuses ("name is not valid UTF-8")
      name: decoder.decode(data.subarray(space + 1, nul)),
      oid: data.toString("hex", nul + 1, nul + 21),
    });
    i = nul + 21;
  }
  return out;
}

interface PlannedFile {
  path: string;
  oid: string;
  mode: 0o644 | 0o755;
  size: number;
}

interface Plan {
  /** directories to create that hold no file (submodules), parents first */
  dirs: string[];
  files: PlannedFile[];
}

/** An error like the file system's ENOENT, without the cost of a stack trace. */
function notFound(syscall: string, file: string): NodeJS.ErrnoException {
  const e = Object.create(Error.prototype) as NodeJS.ErrnoException;
  return Object.assign(e, {
    message: `ENOENT: no such file or directory, ${syscall} '${file}'`,
    code: "ENOENT",
    errno: -2,
    syscall,
    path: file,
  });
}

/** What isomorphic-git's probe of a file system gets back (see readOnlyGitFs). */
const PROBE_ANSWER = Object.freeze({ code: "EPROBE" });

/**
 * The file system a checkout reads the repository's objects through, for isomorphic-git's
 * readObject. That function wraps the file system it is given anew on every call, and probes the
 * wrapper twice by calling readFile() with no argument (Node builds an ERR_INVALID_ARG_TYPE with a
 * stack trace each time); it then stats the git directory, lists objects/pack and looks for the
 * object as a loose file first (a missing file: another error with a stack trace). For the 20,000
 * blobs of the `many` benchmark pack that was ~8 s of CPU. Here the probe gets a prepared answer,
 * a missing file is told by a stat that does not throw (and reported by an error without a stack),
 * and each directory is listed once per checkout: nothing writes into the repository meanwhile.
 */
function readOnlyGitFs(): PromiseFsClient {
  const fsp = fs.promises;
  const listed = new Map<string, Promise<string[]>>();
  const statOrMissing = (syscall: "stat" | "lstat", file: string) => {
    const st = (syscall === "stat" ? fs.statSync : fs.lstatSync)(file, { throwIfNoEntry: false });
    return st ? Promise.resolve(st) : Promise.reject(notFound(syscall, file));
  };
  const client = {
    readFile: (...args: unknown[]) => {
      if (args.length === 0) return Promise.reject(PROBE_ANSWER);
      const file = args[0];
      if (typeof file === "string" && !fs.statSync(file, { throwIfNoEntry: false }))
        return Promise.reject(notFound("open", file));
      return (fsp.readFile as (...a: unknown[]) => Promise<Buffer | string>)(...args);
    },
    stat: (file: string) => statOrMissing("stat", file),
    lstat: (file: string) => statOrMissing("lstat", file),
    readdir: (dir: string, ...rest: unknown[]) => {
      if (rest.length > 0 && rest[0] !== undefined) return fsp.readdir(dir, ...(rest as []));
      let names = listed.get(dir);
      if (!names) {
        names = fsp.readdir(dir);
        listed.set(dir, names);
        names.catch(() => listed.delete(dir));
      }
      return names.then((n) => [...n]);
    },
    // never called while objects are read; there for the wrapper's completeness
    writeFile: fsp.writeFile,
    mkdir: fsp.mkdir,
    rmdir: fsp.rmdir,
    rm: fsp.rm,
    unlink: fsp.unlink,
    readlink: fsp.readlink,
    symlink: fsp.symlink,
  };
  return { promises: client } as unknown as PromiseFsClient;
}

/** What a tree walk reads objects with; a cache shared by every read (isomorphic-git's pack cache). */
class Objects {
  private readonly cache = {};
  private readonly fs = readOnlyGitFs();
  constructor(
    private readonly git: IsoGit,
    private readonly gitdir: string,
    private readonly origin: TreeOrigin,
  ) {}

  async read(oid: string, what: string): Promise<{ type: string; object: Uint8Array }> {
    try {
      const r = await this.git.readObject({
        fs: this.fs,
        gitdir: this.gitdir,
        oid,
        format: "content",
        cache: this.cache,
      });
      return { type: r.type, object: r.object as Uint8Array };
    } catch (e) {
      if ((e as { code?: string }).code !== "NotFoundError") throw e;
      throw missingObject(oid, what, this.origin, e);
    }
  }
}

function missingObject(oid: string, what: string, origin: TreeOrigin, cause: unknown): AttuneError {
  return new AttuneError(
    ErrorCodes.EFETCH,
    `${what}: object ${oid} of the tree of ${origin.repo} at ${refText(origin)} is missing`,
    {
      cause,
      details: { field: "source", oid },
      hint: "the repository is incomplete (a partial or shallow copy, or a damaged one): run git fsck on it",
    },
  );
}

/**
 * The commit an object id leads to: annotated tags are followed (at most 10 deep). A tag of a
 * tree or a blob throws isomorphic-git's ObjectTypeError shape (`expected: "commit"`), which the
 * git source reports as "names a tree, not a commit".
 */
export async function peelToCommit(git: IsoGit, gitdir: string, oid: string): Promise<string> {
  let current = oid;
  for (let depth = 0; depth < 10; depth++) {
    const { type, object } = await git.readObject({ fs, gitdir, oid: current, format: "content" });
    if (type === "commit") return current;
    if (type !== "tag") {
      throw Object.assign(new Error(`${oid} names a ${type}, not a commit`), {
        code: "ObjectTypeError",
        data: { oid, actual: type, expected: "commit" },
      });
    }
    const m = /^object ([0-9a-f]{40})$/m.exec(Buffer.from(object as Uint8Array).toString("latin1"));
    if (!m) throw new Error(`tag ${current} names no object`);
    current = m[1];
  }
  throw new Error(`tag ${oid}: more than 10 tags to peel`);
}

/**
 * Walk the commit's tree and check every entry (names, `.git`, modes, collisions, count, depth,
 * per-file and total sizes, read from the packs without inflating a blob) before anything is
 * written. A link is ESYMLINK; a submodule becomes an empty directory, counted like one.
 */
async function plan(
  objects: Objects,
  sizes: GitBlobSizes,
  treeOid: string,
  limits: ExtractLimits,
  origin: TreeOrigin,
): Promise<Plan> {
  const checker = new EntryChecker(limits, SUBJECT);
  const result: Plan = { dirs: [], files: [] };
  const refuse = (entry: string, message: string) => unsafe(entry, message, treeHint(origin), SUBJECT);
  const known = new Map<string, number>();

  const walk = async (oid: string, prefix: string): Promise<void> => {
    const { type, object } = await objects.read(
      oid,
      prefix === "" ? "the root tree" : `"${quoteName(prefix)}/"`,
    );
    if (type !== "tree") throw refuse(prefix, `is a directory in its parent tree, but names a ${type}`);
    for (const entry of parseTree(object, prefix === "" ? oid : prefix)) {
      const at = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
      if (entry.name === "")
        throw refuse(prefix === "" ? "" : `${prefix}/`, "a tree entry has an empty name");
      if (entry.name === "." || entry.name === "..")
        throw refuse(at, `a tree entry is named "${entry.name}" (git refuses to check it out)`);
      if (entry.name.includes("/")) throw refuse(at, "a tree entry's name holds a slash");
      if (isDotGit(entry.name))
        throw refuse(
          at,
          'a tree entry is named ".git" (in some case or spelling): git refuses to check it out',
        );
      const kind = entry.mode & 0o170000;
      if (kind === 0o040000) {
        // made as the parent of a file it holds: a tree with no file in it (only a crafted commit
        // has one) is left out, as git's checkout leaves it out
        checker.check({ name: `${at}/`, kind: "directory", mode: 0o755, size: 0 });
        await walk(entry.oid, at);
      } else if (kind === 0o120000) {
        throw new AttuneError(
          ErrorCodes.ESYMLINK,
          `file in the repository "${quoteName(at)}" is a symbolic link; packs may not contain links`,
          { path: at, details: { field: "source", entry: at } },
        );
      } else if (kind === 0o160000) {
        // a submodule: checked out as an empty directory, counted like one
        checker.check({ name: `${at}/`, kind: "directory", mode: 0o755, size: 0 });
        result.dirs.push(at);
      } else if (kind === 0o100000) {
        // git reads any regular mode as 100644 or 100755, by the owner's execute bit (100664,
        // written by old git, is 100644: `git fsck` only warns about it)
        let size = known.get(entry.oid);
        if (size === undefined) {
          try {
            size = sizes.size(entry.oid);
          } catch (e) {
            throw missingObject(entry.oid, `file in the repository "${quoteName(at)}"`, origin, e);
          }
          known.set(entry.oid, size);
        }
        const mode = entry.mode & 0o100 ? 0o755 : 0o644;
        checker.check({ name: at, kind: "file", mode, size });
        result.files.push({ path: at, oid: entry.oid, mode, size });
      } else {
        throw refuse(
          at,
          `a tree entry has the mode ${entry.modeText}, which is no file, directory, link or submodule`,
        );
      }
    }
  };
  await walk(treeOid, "");
  return result;
}

const WRITE_FLAGS =
  fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

/**
 * Check the tree of `commit` (in the repository at `gitdir`) as an archive's entries are checked,
 * then write its files into `dest` (which holds nothing of the tree yet: a staging directory, where
 * only the clone's `.git` may be). Files get 0644 or 0755, directories 0755; nothing is written
 * when a check fails. Errors name the repository and the ref (`origin`).
 */
export async function checkoutTree(
  git: IsoGit,
  gitdir: string,
  commit: string,
  dest: string,
  limits: ExtractLimits,
  origin: TreeOrigin,
): Promise<{ files: number }> {
  const objects = new Objects(git, gitdir, origin);
  const { object } = await objects.read(commit, "the commit");
  const tree = /^tree ([0-9a-f]{40})$/m.exec(Buffer.from(object).toString("latin1"))?.[1];
  if (!tree) throw new Error(`commit ${commit} names no tree`);
  const sizes = new GitBlobSizes(gitdir);
  let planned: Plan;
  try {
    planned = await plan(objects, sizes, tree, limits, origin);
  } catch (e) {
    throw asTreeError(e, origin);
  } finally {
    sizes.close();
  }
  const made = new Set<string>();
  const mkdir = (rel: string) => {
    if (rel === "" || made.has(rel)) return;
    mkdir(path.posix.dirname(rel) === "." ? "" : path.posix.dirname(rel));
    fs.mkdirSync(path.join(dest, rel), { mode: 0o755 });
    made.add(rel);
  };
  for (const d of planned.dirs) mkdir(d);
  for (const f of planned.files) {
    const parent = path.posix.dirname(f.path);
    mkdir(parent === "." ? "" : parent);
    const { type, object: content } = await objects.read(
      f.oid,
      `file in the repository "${quoteName(f.path)}"`,
    );
    if (type !== "blob" || content.byteLength !== f.size)
      throw new AttuneError(
        ErrorCodes.EFETCH,
        `file in the repository "${quoteName(f.path)}": object ${f.oid} is not the ${f.size}-byte blob its pack declared`,
        {
          details: { field: "source", entry: f.path },
          hint: "the repository is damaged: run git fsck on it",
        },
      );
    const fd = fs.openSync(path.join(dest, f.path), WRITE_FLAGS, f.mode);
    try {
      for (let off = 0; off < content.byteLength;) off += fs.writeSync(fd, content, off);
      fs.fchmodSync(fd, f.mode); // exactly 0644/0755, whatever the umask
    } finally {
      fs.closeSync(fd);
    }
  }
  return { files: planned.files.length };
}
