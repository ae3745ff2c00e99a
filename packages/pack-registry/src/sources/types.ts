import type { Checksum, FileManifest } from "@attune/pack-storage";
import type { ExtractLimits } from "../extract/limits";
import type { OutboundPolicy } from "../policy/outbound-policy";
import type { RegistryClient } from "../registry-index/client";

export type SourceType = "git" | "archive" | "local_directory" | "local_archive" | "registry";

export const SOURCE_TYPES: readonly SourceType[] = [
  "git",
  "archive",
  "local_directory",
  "local_archive",
  "registry",
];

export interface FetchProgress {
  phase: "fetch" | "extract" | "copy";
  bytes?: number;
  totalBytes?: number;
  files?: number;
}

export interface FetchContext {
  policy: OutboundPolicy;
  registries: RegistryClient;
  /** undefined = any local path (CLI); [] = no local paths at all (API) */
  localSourceRoots?: string[];
  /** size caps for extraction and local copies, over the defaults (see limitsFromConfig) */
  limits?: Partial<ExtractLimits>;
  onProgress?: (p: FetchProgress) => void;
  signal?: AbortSignal;
}

export interface SourceSpec {
  /** what the user typed: URL, local path, `ref` or `ref@version` */
  source: string;
  /** git ref (tag, branch, commit SHA) for git sources */
  ref?: string;
  /** restrict a registry lookup to this registry name */
  registry?: string;
  /** read registry indexes again instead of using cached copies (registry refs only; else ignored) */
  refresh?: boolean;
  /**
   * the caller's expected `sha256:` checksum (verified by the installer, not here): a registry
   * source tries the entry's install sources that publish this checksum first (else ignored)
   */
  checksum?: string;
}

export interface FetchResult {
  sourceType: SourceType;
  sourceUrl: string;
  sourceRef: string | null;
  resolvedCommit: string | null;
  /** sha256 of the downloaded/local archive bytes */
  archiveChecksum: string | null;
  /** directory checksum the registry index promises (the installer verifies it after staging) */
  expectedChecksum: string | null;
  registryName: string | null;
  registryEntry?: unknown;
  /**
   * The directory checksum and per-file manifest of the staged subtree `root` (relative to the
   * staging directory, "" = all of it), computed from the bytes as they were written. Set when the
   * source could hash while writing (files written in checksum order); the installer then skips
   * reading the tree back, if the pack root it finds is this subtree.
   */
  treeHash?: { root: string; checksum: Checksum; files: FileManifest };
  /**
   * The bytes of (some of) the staged files as they were written, paths relative to the staging
   * directory: the installer hashes these from memory instead of reading them back. Set by the
   * archive sources (an archive's order is not the checksum's, so they cannot hash while writing).
   */
  stagedContents?: {
    get(rel: string): Buffer | undefined;
    /** the SHA-256 (hex) of a kept file's bytes, when computed while writing */
    digest(rel: string): string | undefined;
    release(): void;
  };
  /** free-form facts about the fetch (e.g. which registry install source was used and why another failed) */
  details?: Record<string, unknown>;
}

/**
 * One source = "fetch into this staging directory and report what you resolved".
 * Checksums, manifest validation and storage live elsewhere, once.
 */
export interface Source {
  readonly type: SourceType;
  fetch(stagingDir: string, ctx: FetchContext): Promise<FetchResult>;
}
