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
} from "@attune/pack-storage";
import { archiveTypeFromName, extractArchive } from "../extract";
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

/** Names of the YAML definitions in the pack's conventional folders (`actions/*.yaml`, ...). */
async function listContents(root: string): Promise<IndexEntry["contents"]> {
  const out = { actions: [], sensors: [], triggers: [], rules: [], workflows: [] } as Record<
    (typeof CONTENT_KINDS)[number],
    string[]
  >;
  for (const kind of CONTENT_KINDS) {
    const dirs = kind === "workflows" ? ["workflows", "actions/workflows"] : [kind];
    for (const d of dirs) {
      const entries = await fs.readdir(path.join(root, d), { withFileTypes: true }).catch(() => []);
      for (const e of entries)
        if (e.isFile() && /\.ya?ml$/i.test(e.name)) out[kind].push(e.name.replace(/\.ya?ml$/i, ""));
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
      sources.push({
        type: "archive",
        url: publicUrl(opts.archiveUrl, "archiveUrl"),
        checksum: await calculateFileChecksum(file),
      });
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
      contents: await listContents(root),
    };
    return parseIndexEntry(entry, `pack ${m.ref}`);
  });
}
