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
import { findPackRoot, loadManifest } from "../manifest";
import { validateGitRef } from "../policy/git-ref";
import { carriesCredentials } from "../policy/url-credentials";
import { parseIndexEntry, type IndexEntry, type InstallSource } from "./schema";

export interface IndexEntryOptions {
  gitUrl?: string;
  gitRef?: string;
  archiveUrl?: string;
  /** the archive published at archiveUrl (its bytes give the checksum); defaults to `packPath` when that is an archive */
  archiveFile?: string;
}

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

async function withPackRoot<T>(
  packPath: string,
  fn: (root: string, archive: string | null) => Promise<T>,
): Promise<T> {
  const st = await fs.stat(packPath).catch((e) => {
    throw ioError(e, packPath, "read pack");
  });
  if (st.isDirectory()) return fn(await findPackRoot(packPath), null);
  if (!st.isFile() || archiveTypeFromName(packPath) === null) {
    throw new AttuneError(
      ErrorCodes.EINVALID_INPUT,
      `path: ${packPath} is neither a directory nor a .tar.gz/.tgz/.tar/.zip`,
      {
        details: { field: "path" },
      },
    );
  }
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "attune-index-entry-"));
  try {
    const dest = path.join(tmp, "x");
    await extractArchive(packPath, dest);
    return await fn(await findPackRoot(dest), packPath);
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
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
  return withPackRoot(packPath, async (root, archiveFromPath) => {
    const m = await loadManifest(root);
    const sources: InstallSource[] = [];
    if (opts.gitUrl) {
      const ref = validateGitRef(opts.gitRef!, "gitRef");
      sources.push({
        type: "git",
        url: publicUrl(opts.gitUrl, "gitUrl"),
        ref,
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
      contents: await listContents(root, (rel) =>
        archiveFromPath ? `${archiveFromPath}: ${rel.split(path.sep).join("/")}` : path.join(root, rel),
      ),
    };
    return parseIndexEntry(entry, `pack ${m.ref}`);
  });
}
