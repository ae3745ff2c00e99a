import { randomUUID } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import {
  AttuneError,
  ErrorCodes,
  calculateDirectoryManifest,
  isValidVersion,
  isWithin,
  parseChecksum,
  redactUrl,
  redactUrlsIn,
  renameField,
  validateRef,
  validateVersion,
  type Checksum,
  type DirectoryChecksumOptions,
  type FileManifest,
} from "@attune/pack-storage";
import {
  classifySource,
  fetchSource,
  findPackRoot,
  loadManifest,
  type FetchResult,
} from "@attune/pack-registry";
import { beforeWrite } from "./before-write";
import { safeProgress, withDependencyLock, type InstallerContext } from "./context";
import { brokenDependents, checkDependencies, checkDependents, unmetDependencies } from "./dependencies";
import { appendEventKeepingActor } from "./events";
import { crashPoint } from "./fault";
import { finishAfterCommit } from "./finish";
import { resolvePending } from "./reconcile";
import { checkExpectedChecksum, decide, planRecord, type InstallDecision } from "./install-plan";
import { abortError, type PackLock } from "./locks";
import type { PlannedRecord } from "./record";
import { toInstallationJson, toPackJson } from "./serialize";
import { validateInstallRequest } from "./validate";
import { attemptActor, type AttemptHandle } from "./attempts";
import { actorDetails } from "./types";
import type {
  Actor,
  InstallRequest,
  InstallResult,
  OperationOptions,
  ProgressEvent,
  SourceType,
} from "./types";

interface Attempt {
  ref: string | null;
  version: string | null;
  /** the kind of source asked for, known before anything is fetched */
  kind: SourceType | null;
  fetched: FetchResult | null;
  /** the journal is written: from here on the install runs to its end, whatever the signal says */
  journaled: boolean;
  /** its file in `.attempts` until the journal (or its failure's event) speaks for it */
  tracked: AttemptHandle | null;
}

/**
 * fetch -> validate -> dependencies -> hash/verify -> journal -> store -> ONE transaction -> clean up.
 * See docs/install-flow.md for why the steps are in this order.
 */
export async function install(
  ctx: InstallerContext,
  req: InstallRequest,
  actor: Actor,
  opts: OperationOptions = {},
): Promise<InstallResult> {
  validateInstallRequest(req);
  if (opts.signal?.aborted) throw abortError(opts.signal);
  // an empty expected checksum is an error, not "none": a script passing an unset variable must not
  // install unverified
  const callerExpected = req.checksum !== undefined ? parseChecksum(req.checksum, "checksum") : null;
  const progress = safeProgress(opts.onProgress);
  // a wait for another operation on the same pack is said (a progress line), not silent
  const lockWait = (ref: string) => ({
    timeoutMs: ctx.settings.lockTimeoutMs,
    signal: opts.signal,
    onWait: () => progress({ phase: "wait", message: `for another operation on pack '${ref}'` }),
  });
  const attempt: Attempt = {
    ref: null,
    version: null,
    kind: null,
    fetched: null,
    journaled: false,
    tracked: null,
  };
  await beforeWrite(ctx, "install", null);
  const staging = await ctx.storage.createStagingDir();
  let lock: PackLock | null = null;
  try {
    // a registry ref is known before fetching: lock first so a concurrent install does not download twice
    const spec = {
      source: req.source,
      ref: req.refSpec,
      registry: req.registry,
      refresh: req.refresh,
      // a registry entry's sources that publish the pinned checksum are tried first
      checksum: callerExpected ?? undefined,
    };
    attempt.kind = classifySource(spec, ctx.settings.localSourceRoots);
    if (attempt.kind === "local_directory" || attempt.kind === "local_archive")
      await refuseStoreAsSource(req.source, ctx.settings.packsDir);
    // what the attempt file names until pack.yaml is read from the fetched tree
    let label: { ref?: string; version?: string } = {};
    if (attempt.kind === "registry") {
      const [ref, wanted] = req.source.trim().split("@");
      attempt.ref = validateRef(ref);
      // an exact version asked for is the version the attempt is about (a range is not)
      if (wanted !== undefined && isValidVersion(wanted)) attempt.version = wanted;
      label = { ref: attempt.ref, version: attempt.version ?? undefined };
    } else if (attempt.kind === "local_directory" && ctx.settings.localSourceRoots === undefined) {
      // only to name the attempt file should this process die while copying: the copy's own
      // pack.yaml is what the install goes by (the directory may change meanwhile). A directory's
      // pack.yaml is one small read away. Not where local sources are confined to roots (the API):
      // their check comes with the fetch, and a path outside them must not get as far as a read
      label = await peekManifest(req.source);
    }
    attempt.tracked = await ctx.attempts.start({
      ref: label.ref ?? null,
      version: label.version ?? null,
      source_type: attempt.kind,
      requested_source: redactUrl(req.source),
      requested_ref: req.refSpec ?? null,
      force: Boolean(req.force),
      ...attemptActor(actor, req.method),
    });
    if (attempt.kind === "registry" && attempt.ref !== null) {
      lock = await ctx.locker.acquire(attempt.ref, lockWait(attempt.ref));
    }
    const srcDir = path.join(staging, "src");
    await fs.mkdir(srcDir, { mode: 0o700 });
    const fetched = redactFetched(
      await fetchSource(spec, srcDir, {
        policy: ctx.policy,
        registries: ctx.registries,
        localSourceRoots: ctx.settings.localSourceRoots,
        limits: ctx.limits,
        signal: opts.signal,
        // no listener, no reports: the sources skip the work of building them
        onProgress:
          opts.onProgress &&
          ((p) => progress({ ...p, phase: p.phase === "extract" ? "extract" : "fetch", message: p.phase })),
      }).catch((err: unknown) => {
        throw asRequestField(err, req.refSpec !== undefined);
      }),
    );
    attempt.fetched = fetched;
    await attempt.tracked.update({ phase: "validate" });
    crashPoint("after-fetch");
    progress({ phase: "validate" });
    const root = await findPackRoot(srcDir);
    const manifest = await loadManifest(root).catch((err: unknown) => {
      // pack.yaml is invalid but names a valid ref: the failure goes into that pack's history
      const named = err instanceof AttuneError ? err.details?.packRef : undefined;
      if (!attempt.ref && typeof named === "string") attempt.ref = named;
      throw err;
    });
    if (attempt.kind === "registry" && attempt.ref && manifest.ref !== attempt.ref)
      throw new AttuneError(
        ErrorCodes.EMANIFEST,
        `the registry entry '${attempt.ref}' delivered a pack whose pack.yaml says ref '${manifest.ref}'`,
        { hint: "report this to the registry's maintainers", details: { field: "ref" } },
      );
    const promised = fetched.sourceType === "registry" ? fetched.details?.version : undefined;
    if (typeof promised === "string" && promised !== manifest.version)
      throw new AttuneError(
        ErrorCodes.EMANIFEST,
        `the registry entry '${manifest.ref}@${promised}' delivered a pack.yaml with version ${manifest.version}`,
        { hint: "report this to the registry's maintainers", details: { field: "version" } },
      );
    // pack.yaml is untrusted input that becomes paths and lock names: validate here too
    attempt.ref = validateRef(manifest.ref);
    attempt.version = validateVersion(manifest.version);
    await attempt.tracked.update({ ref: attempt.ref, version: attempt.version, phase: "validate" });
    lock ??= await ctx.locker.acquire(manifest.ref, lockWait(manifest.ref));
    return await installLocked(ctx, {
      req,
      actor,
      root,
      rootInStaging: path.relative(srcDir, root),
      manifest,
      fetched,
      callerExpected,
      lock,
      progress,
      signal: opts.signal,
      attempt,
    });
  } catch (e) {
    // a stop asked for shows as whatever the step it cut short said ("extraction aborted", a
    // cancelled download): the caller is told it was the abort, EABORTED, as it honoured it
    const err = opts.signal?.aborted && !attempt.journaled ? abortError(opts.signal) : e;
    // its failed event speaks for the attempt now (a crash in between loses the record, never doubles it)
    await attempt.tracked?.end();
    await recordFailure(ctx, req, actor, attempt, err);
    throw err;
  } finally {
    await attempt.tracked?.end();
    attempt.fetched?.stagedContents?.release();
    await fs.rm(staging, { recursive: true, force: true }).catch(() => undefined);
    await lock?.release();
  }
}

/**
 * A local source inside the packs directory (`pack show`'s storage path) is attune's own copy: the
 * install would record it as where the pack came from, and then retire it (a reinstall moves a new
 * copy in). Real paths are compared, so a link into the store counts; a path that does not resolve
 * is left to the fetch to report.
 */
async function refuseStoreAsSource(source: string, packsDir: string): Promise<void> {
  const real = (p: string) => fs.realpath(p).catch(() => null);
  const [from, store] = await Promise.all([real(path.resolve(source)), real(packsDir)]);
  if (from === null || store === null) return;
  if (!isWithin(from, store)) return;
  throw new AttuneError(
    ErrorCodes.EINVALID_INPUT,
    `source: ${source} is inside the packs directory (${packsDir}): that is attune's own copy of an installed pack, not a source to install from`,
    {
      details: { field: "source" },
      hint: "install from the pack's own source (`attune pack show <ref>` names where it came from); to check an installed pack's files, run `attune pack verify <ref>`",
    },
  );
}

interface LockedInput {
  req: InstallRequest;
  actor: Actor;
  root: string;
  /** where the pack root is in the staging directory the source filled ("" = at its top) */
  rootInStaging: string;
  manifest: Awaited<ReturnType<typeof loadManifest>>;
  fetched: FetchResult;
  callerExpected: Checksum | null;
  lock: PackLock;
  progress: (e: ProgressEvent) => void;
  signal?: AbortSignal;
  attempt: Attempt;
}

async function installLocked(ctx: InstallerContext, i: LockedInput): Promise<InstallResult> {
  const { manifest: m, progress } = i;
  await resolvePending(ctx, m.ref); // a crashed earlier operation on this ref is settled first
  const current = await ctx.store.get(m.ref);
  const targetOnDisk = await ctx.storage.isInstalled(m.ref, m.version);
  // the git ref the caller asked for (not the branch a HEAD clone recorded)
  const gitRef = i.fetched.sourceType === "git" ? (i.req.refSpec ?? null) : null;
  const decision = decide(m.ref, current, m.version, targetOnDisk, Boolean(i.req.force), gitRef);
  // a version change must not break what depends on this pack (a reinstall changes nothing)
  const versionChanges = Boolean(current?.installation) && current!.pack.version !== m.version;
  const checkGraph = async () => {
    await checkDependencies(
      m.ref,
      m.dependencies,
      installedVersionIn(ctx),
      ctx.registries.list().some((r) => r.enabled),
    );
    if (versionChanges) checkDependents(m.ref, m.version, await ctx.store.all());
  };
  // checked now, to fail before hashing, and again under the dependency lock right before the commit
  const graphMatters = !i.req.skipDeps && (m.dependencies.length > 0 || versionChanges);
  if (!i.req.skipDeps) {
    progress({ phase: "dependencies", message: `${m.dependencies.length} dependencies` });
    await checkGraph();
  }
  progress({ phase: "hash", files: 0, bytes: 0 });
  const files =
    hashedWhileStaged(i) ??
    (await calculateDirectoryManifest(i.root, {
      onProgress: (p) =>
        progress({ phase: "hash", files: p.files, bytes: p.bytes, message: `${p.totalFiles} files` }),
      ...stagedContents(i),
    }));
  i.fetched.stagedContents?.release(); // hashed: the kept bytes are not needed any more
  const sizes = Object.values(files.files);
  progress({ phase: "hash", files: sizes.length, bytes: sizes.reduce((a, f) => a + f.size, 0) });
  const check = checkExpectedChecksum(files.checksum, i.fetched, i.callerExpected);
  const planned = planRecord({
    operationId: randomUUID(),
    req: i.req,
    actor: i.actor,
    manifest: m,
    fetched: i.fetched,
    checksum: files.checksum,
    check,
    decision,
    storagePath: ctx.storage.getPackPath(m.ref, m.version),
  });
  const rec = await withDependencyLock(ctx, graphMatters, i.signal, async () => {
    // an uninstall of a dependency (another ref, so another lock) may have committed meanwhile
    if (graphMatters) await checkGraph();
    // the last point where an abort is honoured: from the journal on, the operation runs to its end
    if (i.signal?.aborted) throw abortError(i.signal);
    i.lock.assertHeld();
    i.attempt.journaled = true;
    await journalAndStore(ctx, planned, decision, i.root, i.lock, progress, () => i.attempt.tracked?.end());
    return commitOrRollBack(ctx, planned, decision, files.files, i.lock, progress);
  });
  return {
    pack: toPackJson(rec.pack),
    installation: toInstallationJson(rec.installation!),
    created: decision.previousVersion === null,
    action: decision.action,
    previousVersion: decision.previousVersion,
    runtimeDeps: m.runtime_deps,
    // what skip_deps let through, said instead of left for the user to discover; nothing otherwise
    ...(i.req.skipDeps
      ? await skippedDependencies(ctx, m.ref, m.version, m.dependencies)
      : { unmetDependencies: [], brokenDependents: [] }),
  };
}

/** The version of a pack installed in the store (null: not installed), as the dependency checks ask. */
function installedVersionIn(ctx: InstallerContext): (ref: string) => Promise<string | null> {
  return async (ref) => {
    const rec = await ctx.store.get(ref);
    return rec?.installation ? rec.pack.version : null;
  };
}

/**
 * After an install with skip_deps: its dependencies that are not installed in range, and the
 * installed packs whose needs the version now installed does not meet. Read after the commit: the state
 * the user is left with. Best effort: a failing read says nothing rather than failing an install
 * that has already happened.
 */
async function skippedDependencies(
  ctx: InstallerContext,
  ref: string,
  version: string,
  deps: Array<{ ref: string; range: string }>,
): Promise<Pick<InstallResult, "unmetDependencies" | "brokenDependents">> {
  try {
    return {
      unmetDependencies: await unmetDependencies(ref, deps, installedVersionIn(ctx)),
      // also after a reinstall of the same version: it leaves them as broken as they were
      brokenDependents: brokenDependents(ref, version, await ctx.store.all()),
    };
  } catch {
    return { unmetDependencies: [], brokenDependents: [] };
  }
}

/**
 * The checksum and manifest the source computed while writing the staged tree, when they describe
 * the pack root found in it (the same bytes, in the same order, so the same result as reading the
 * tree back, without a second pass over 20,000 files); otherwise null and the tree is hashed.
 */
function hashedWhileStaged(i: LockedInput): { checksum: Checksum; files: FileManifest } | null {
  const staged = i.fetched.treeHash;
  if (!staged) return null;
  return i.rootInStaging === staged.root ? staged : null;
}

/**
 * The bytes the source kept of the files it wrote, and their SHA-256 where it computed them, looked
 * up by path relative to the pack root.
 */
function stagedContents(i: LockedInput): Pick<DirectoryChecksumOptions, "contents" | "digestOf"> {
  const kept = i.fetched.stagedContents;
  if (!kept) return {};
  const prefix = i.rootInStaging;
  const key = prefix === "" ? (rel: string) => rel : (rel: string) => `${prefix}/${rel}`;
  return { contents: (rel) => kept.get(key(rel)), digestOf: (rel) => kept.digest(key(rel)) };
}

/** journal the intent, then move the staged tree into versioned storage */
async function journalAndStore(
  ctx: InstallerContext,
  planned: PlannedRecord,
  d: InstallDecision,
  root: string,
  lock: PackLock,
  progress: (e: ProgressEvent) => void,
  journaled: () => Promise<void> | undefined,
): Promise<void> {
  const ref = planned.pack.ref;
  crashPoint("before-journal");
  await ctx.journal.write(ref, {
    operation: "install",
    version: planned.pack.version,
    checksum: planned.installation.checksum,
    storagePath: planned.installation.storagePath,
    previousVersion: d.previousVersion,
    record: planned,
  });
  // from here on the journal speaks for the attempt
  await journaled();
  crashPoint("after-journal");
  progress({ phase: "store" });
  try {
    lock.assertHeld();
    const stored = await ctx.storage.installPack(root, ref, planned.pack.version, { replace: d.replace });
    planned.installation.storagePath = stored;
  } catch (e) {
    // the move is atomic: on failure nothing new is in place, so the intent is void
    await ctx.journal.remove(ref);
    throw e;
  }
  crashPoint("after-store");
}

async function commitOrRollBack(
  ctx: InstallerContext,
  planned: PlannedRecord,
  d: InstallDecision,
  fileManifest: Record<string, { size: number; sha256: string }>,
  lock: PackLock,
  progress: (e: ProgressEvent) => void,
) {
  const { ref, version } = planned.pack;
  progress({ phase: "record" });
  let rec;
  try {
    lock.assertHeld();
    rec = await ctx.store.commitInstall(planned, fileManifest);
  } catch (e) {
    if (d.replace && d.previousVersion === version) {
      // a forced reinstall replaced the only copy of this version: keep the journal, so the next
      // reconcile records the (verified) new files instead of leaving a row that no longer matches
      throw e;
    }
    await ctx.storage.uninstallPack(ref, version).catch(() => undefined);
    await ctx.journal.remove(ref);
    throw e;
  }
  crashPoint("after-commit");
  await finishAfterCommit(ctx, ref, version, d.previousVersion);
  return rec;
}

/** The ref and version a local directory's pack.yaml names, or nothing (any problem: the install finds it). */
async function peekManifest(dir: string): Promise<{ ref?: string; version?: string }> {
  try {
    const m = await loadManifest(await findPackRoot(dir));
    return { ref: validateRef(m.ref), version: validateVersion(m.version) };
  } catch {
    return {};
  }
}

async function recordFailure(
  ctx: InstallerContext,
  req: InstallRequest,
  actor: Actor,
  attempt: Attempt,
  err: unknown,
): Promise<void> {
  // without a ref there is no history to append to (the fetch or pack.yaml failed before we knew it)
  if (!attempt.ref) return;
  const e = err as AttuneError;
  // from where: what was fetched; else what the error names (a registry's archive URL and the
  // entry's version, the registry); else what was asked for (a registry ref is not a URL)
  const said = e instanceof AttuneError ? (e.details ?? {}) : {};
  const text = (v: unknown) => (typeof v === "string" && v !== "" ? v : null);
  const registry = attempt.fetched?.registryName ?? text(said.registry) ?? req.registry ?? null;
  const event = {
    packRef: attempt.ref,
    // a registry install that failed after resolving: the entry's version (what was being installed)
    version:
      attempt.version ??
      (attempt.kind === "registry" ? (text(attempt.fetched?.details?.version) ?? text(said.version)) : null),
    action: "failed" as const,
    outcome: "failure" as const,
    sourceType: attempt.fetched?.sourceType ?? attempt.kind,
    sourceUrl:
      attempt.fetched?.sourceUrl ??
      redactOrNull(text(said.url)) ??
      (attempt.kind === "registry" ? null : req.source),
    actorId: actor.identityId,
    actorName: actor.name,
    method: req.method,
    // a message may quote a URL it was given or redirected to (a signed query): not into the history
    error: redactUrlsIn(`${e?.code ?? "ERROR"}: ${e?.message ?? String(err)}`),
    details: {
      code: e?.code ?? null,
      force: Boolean(req.force),
      requested_source: redactUrl(req.source),
      ...actorDetails(actor),
      ...(req.refSpec !== undefined ? { requested_ref: req.refSpec } : {}),
      ...(registry ? { registry } : {}),
      // a refusal for the dependency graph names what it is about, as a refused uninstall's does
      ...(e?.code === ErrorCodes.EDEPENDENCY && Array.isArray(said.dependents)
        ? { dependents: said.dependents }
        : {}),
      ...(e?.code === ErrorCodes.EDEPENDENCY && Array.isArray(said.problems)
        ? { problems: said.problems }
        : {}),
    },
  };
  // the install's own error is what the caller sees: a history that cannot be written stays silent
  await appendEventKeepingActor(ctx, event).catch(() => undefined);
}

/**
 * The sources name a spec's git ref or registry version `ref`, and the version a registry lookup
 * wanted `version`; the request calls them refSpec (the API's ref_spec) or part of `source`
 * (ref@version), and `ref` is the pack's own ref there: errors are renamed accordingly.
 */
function asRequestField(err: unknown, refSpecGiven: boolean): unknown {
  const field = err instanceof AttuneError ? err.details?.field : undefined;
  if (!(err instanceof AttuneError) || (field !== "ref" && field !== "version")) return err;
  // a version range without refSpec came with the source (ref@range)
  const renamed = field === "ref" || refSpecGiven ? "refSpec" : "source";
  return renameField(err, renamed, (text) => text.replace(/^(ref|version): /, ""));
}

/**
 * What a fetch reports, fit to record: the source URL, and every URL in its details (a redirect's
 * final URL, a registry's failed attempts), without a password or the value of a secret-looking
 * query parameter (`?token=`, a presigned `X-Amz-Signature=`): the history is readable by anyone
 * with `packs:read`.
 */
function redactFetched(f: FetchResult): FetchResult {
  const clean = (v: unknown): unknown =>
    typeof v === "string"
      ? redactUrlsIn(v)
      : Array.isArray(v)
        ? v.map(clean)
        : v !== null && typeof v === "object"
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clean(x)]))
          : v;
  return {
    ...f,
    sourceUrl: redactUrl(f.sourceUrl),
    ...(f.details ? { details: clean(f.details) as Record<string, unknown> } : {}),
  };
}

/** A URL from an error's details, never with a secret in it (policy refusals quote what was given). */
function redactOrNull(url: string | null): string | null {
  return url === null ? null : redactUrl(url);
}
