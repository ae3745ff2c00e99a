import {
  AttuneError,
  ErrorCodes,
  IntegrityError,
  parseChecksum,
  redactUrl,
  type Checksum,
} from "@attune/pack-storage";
import type { FetchResult, PackManifest } from "@attune/pack-registry";
import { formatDependencies } from "./dependencies";
import type { InstalledRecord, PlannedRecord } from "./record";
import { actorDetails, type Actor, type EventAction, type InstallRequest } from "./types";
import { loadSemver } from "./lazy";

export interface InstallDecision {
  action: Extract<EventAction, "install" | "upgrade" | "reinstall"> | "downgrade";
  previousVersion: string | null;
  previousStoragePath: string | null;
  /** the target version's directory is already there and will be replaced */
  replace: boolean;
}

/** A git ref that does not name `version` (`v3.0.0` or `main` for 2.0.0; not `v2.0.0` or `2.0.0`). */
export function refDiffersFromVersion(gitRef: string, version: string): boolean {
  return gitRef.replace(/^v/i, "") !== version;
}

/**
 * Same ref+version present (recorded or only on disk) needs `force`; another version is an
 * upgrade or downgrade and is allowed without it (like `npm install pkg@other-version`).
 * `gitRef`: the git ref the caller asked for; when it does not name the version its pack.yaml
 * holds, the conflict says so (asked for v3.0.0, "version 2.0.0 is already installed" alone puzzles).
 */
export function decide(
  ref: string,
  current: InstalledRecord | null,
  version: string,
  targetOnDisk: boolean,
  force: boolean,
  gitRef?: string | null,
): InstallDecision {
  const recorded = current?.installation ? current.pack.version : null;
  if (recorded === version || targetOnDisk) {
    const where = recorded === version ? "installed" : "present in the packs directory";
    if (!force)
      throw new AttuneError(
        ErrorCodes.ECONFLICT,
        gitRef && refDiffersFromVersion(gitRef, version)
          ? `pack '${ref}': git ref ${gitRef} holds version ${version} (its pack.yaml), which is already ${where}`
          : `pack '${ref}' version ${version} is already ${where}`,
        {
          hint: "pass force (--force) to reinstall it",
          details: { field: "force", version, ...(gitRef ? { gitRef } : {}) },
        },
      );
  }
  const previousVersion = recorded;
  const previousStoragePath = current?.installation?.storagePath ?? null;
  let action: InstallDecision["action"] = "install";
  if (previousVersion === version) action = "reinstall";
  else if (previousVersion !== null)
    // by precedence, then by build metadata (1.0.0+b1 after 1.0.0+b2 is a downgrade, not an
    // upgrade: the two have equal precedence, so lt() said neither)
    action =
      loadSemver().valid(previousVersion) && loadSemver().compareBuild(version, previousVersion) < 0
        ? "downgrade"
        : "upgrade";
  // with force, whatever is at the version's path is replaced, even when it is not a whole install
  // (a link whose stored files are gone, a stray file): that is how a damaged install is repaired
  return { action, previousVersion, previousStoragePath, replace: targetOnDisk || force };
}

export interface ChecksumCheck {
  verified: boolean;
  expected: Checksum | null;
}

/**
 * For a registry install, which of the entry's install sources delivered the pack: its type and
 * (redacted) URL, and the sources tried before it that failed. A checksum mismatch names it, so the
 * user can tell which kind of checksum was compared (a git source's is of the directory; an
 * archive's, of its bytes) and why it was not another source.
 */
function registryOrigin(
  f: FetchResult,
): { text: string; installSource: string; url: string; failed: string } | null {
  if (f.sourceType !== "registry") return null;
  const installSource = String(f.details?.installSource ?? "install");
  const url = redactUrl(f.sourceUrl);
  const attempts = Array.isArray(f.details?.failedAttempts)
    ? (f.details.failedAttempts as Array<{ type?: unknown; url?: unknown; code?: unknown }>)
    : [];
  const failed = attempts.map((a) => `${String(a.type)} ${redactUrl(String(a.url))} (${String(a.code)})`);
  return {
    text: `registry "${f.registryName ?? "?"}"'s ${installSource} source ${url}`,
    installSource,
    url,
    failed: failed.length > 0 ? `; tried before it and failed: ${failed.join(", ")}` : "",
  };
}

/**
 * The staged tree must match every expected value given: the registry index's directory checksum
 * and the caller's. The caller's value may also be the archive's own checksum (what
 * `attune pack checksum file.tgz` prints), which the source computed over the downloaded bytes.
 */
export function checkExpectedChecksum(
  actual: Checksum,
  fetched: FetchResult,
  callerExpected: Checksum | null,
): ChecksumCheck {
  const origin = registryOrigin(fetched);
  const where = origin
    ? { installSource: origin.installSource, url: origin.url, registry: fetched.registryName }
    : {};
  const fromIndex = fetched.expectedChecksum
    ? parseChecksum(fetched.expectedChecksum, "registry checksum")
    : null;
  if (fromIndex && fromIndex !== actual)
    throw new IntegrityError(fromIndex, actual, {
      foundText: origin ? `directory checksum ${actual} (of the pack from ${origin.text})` : undefined,
      hint: `the pack does not match the checksum its registry (${fetched.registryName ?? "?"}) publishes; do not trust it`,
      details: {
        field: "registry checksum",
        source: fetched.sourceUrl,
        checksumKind: "directory",
        ...where,
      },
    });
  if (callerExpected) {
    const archive = fetched.archiveChecksum
      ? parseChecksum(fetched.archiveChecksum, "archive checksum")
      : null;
    // either kind is accepted, and which one the caller meant cannot be told from a mismatch:
    // both are named, each with its kind, so neither is compared with a value of the other kind
    const both = archive !== null && fetched.sourceType !== "git";
    const found = both
      ? `archive checksum ${archive} (of the archive file's bytes) and directory checksum ${actual} (of the unpacked pack)`
      : undefined;
    if (callerExpected !== actual && callerExpected !== archive)
      throw new IntegrityError(callerExpected, both ? archive : actual, {
        foundText: origin
          ? `${found ?? `directory checksum ${actual} (of the pack)`}, from ${origin.text}${origin.failed}`
          : found,
        hint: both
          ? "the fetched pack is not the one the checksum names (either kind is accepted); nothing was installed"
          : origin
            ? `the fetched pack is not the one the checksum names: a ${origin.installSource} source is compared by its directory checksum (an archive's checksum matches only an archive source); nothing was installed`
            : "the fetched pack is not the one the checksum names; nothing was installed",
        details: {
          field: "checksum",
          directoryChecksum: actual,
          archiveChecksum: archive,
          checksumKind: both ? "archive and directory" : "directory",
          ...where,
        },
      });
  }
  // a registry archive source verified the archive bytes against the index before extracting them
  const indexArchive =
    fetched.sourceType === "registry" &&
    fetched.details?.installSource === "archive" &&
    fetched.archiveChecksum
      ? parseChecksum(fetched.archiveChecksum, "archive checksum")
      : null;
  return {
    verified: Boolean(fromIndex || callerExpected || indexArchive),
    expected: callerExpected ?? fromIndex ?? indexArchive,
  };
}

export interface PlanInput {
  operationId: string;
  req: InstallRequest;
  actor: Actor;
  manifest: PackManifest;
  fetched: FetchResult;
  checksum: Checksum;
  check: ChecksumCheck;
  decision: InstallDecision;
  storagePath: string;
}

/** The rows one install writes (docs/install-flow.md lists what goes in `meta`). */
export function planRecord(p: PlanInput): PlannedRecord {
  const { manifest: m, fetched: f, req, decision: d } = p;
  const packMeta: Record<string, unknown> = { ...(m.meta ?? {}) };
  for (const k of ["author", "email", "license"] as const) if (m[k] !== undefined) packMeta[k] = m[k];
  const eventAction = d.action === "downgrade" ? "upgrade" : d.action; // the history's vocabulary
  return {
    operationId: p.operationId,
    pack: {
      ref: m.ref,
      label: m.label,
      description: m.description ?? null,
      version: m.version,
      tags: m.tags,
      confSchema: m.conf_schema ?? null,
      meta: packMeta,
      runtimeDeps: m.runtime_deps,
      dependencies: formatDependencies(m.dependencies),
    },
    installation: {
      sourceType: f.sourceType,
      sourceUrl: f.sourceUrl,
      sourceRef: f.sourceRef,
      resolvedCommit: f.resolvedCommit,
      checksum: p.checksum,
      checksumVerified: p.check.verified,
      installedBy: p.actor.identityId,
      installationMethod: req.method,
      storagePath: p.storagePath,
      meta: {
        force: Boolean(req.force),
        skip_deps: Boolean(req.skipDeps),
        skip_tests: Boolean(req.skipTests),
        registry: f.registryName,
        expected_checksum: p.check.expected,
        archive_checksum: f.archiveChecksum,
        requested_source: redactUrl(req.source), // what was asked for, without its secrets
        requested_ref: req.refSpec ?? null,
        action: d.action,
        previous_version: d.previousVersion,
        operation_id: p.operationId,
        // who, by name: installed_by is an API identity's id, null for a local user
        actor_name: p.actor.name,
        ...actorDetails(p.actor),
        ...(f.details ? { fetch: f.details } : {}),
      },
    },
    event: {
      packRef: m.ref,
      version: m.version,
      action: eventAction,
      outcome: "success",
      sourceType: f.sourceType,
      sourceUrl: f.sourceUrl,
      actorId: p.actor.identityId,
      actorName: p.actor.name,
      method: req.method,
      error: null,
      details: {
        checksum: p.checksum,
        checksum_verified: p.check.verified,
        previous_version: d.previousVersion,
        resolved_commit: f.resolvedCommit,
        // from where, beyond the URL: the git ref asked for, the registry that resolved the pack
        source_ref: f.sourceRef,
        ...(f.registryName ? { registry: f.registryName } : {}),
        operation_id: p.operationId,
        ...actorDetails(p.actor),
        ...(d.action === "downgrade" ? { downgrade: true } : {}),
        // dependencies were not checked: the history says so, as the installation's meta does
        ...(req.skipDeps ? { skip_deps: true } : {}),
      },
    },
  };
}
