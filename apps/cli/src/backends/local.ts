import os from "node:os";
import { openInstaller, toDependencyWarningsJson, type Installer } from "@attune/installer";
import { CliError } from "../errors";
import type { Settings } from "../handlers/settings";
import { storeOptions } from "../handlers/settings";
import {
  verifyReport,
  warnIfUnrecorded,
  type HistoryPage,
  type InstallArgs,
  type Json,
  type PackBackend,
  type PackRecord,
  type SearchHit,
  type VerifyReport,
} from "./types";

/** Local mode: the embedded (or DATABASE_URL) store, through the same installer the API uses. */
export async function openLocalBackend(settings: Settings): Promise<PackBackend> {
  const installer = await openInstaller(storeOptions(settings));
  reportRecovery(installer.lastReconcile);
  const actor = { identityId: null, name: localUser() };
  return {
    mode: "local",
    async install(req: InstallArgs, onProgress, signal) {
      const r = await installer.install(
        {
          source: req.source,
          refSpec: req.ref,
          force: req.force,
          checksum: req.checksum,
          skipDeps: req.skipDeps,
          skipTests: req.skipTests,
          registry: req.registry,
          refresh: req.refresh,
          method: "cli",
        },
        actor,
        { onProgress: onProgress && ((e) => onProgress({ ...e })), signal },
      );
      // the API's shape, so local and remote results read the same
      return {
        ...(r as unknown as PackRecord & { created: boolean }),
        ...toDependencyWarningsJson(r),
      };
    },
    async uninstall(ref, version, skipDeps) {
      const r = await installer.uninstall(ref, { version, skipDeps, actor, method: "cli" });
      return { ref: r.ref, removed: r.removed, ...toDependencyWarningsJson(r) };
    },
    async list(sourceType) {
      const out: PackRecord[] = [];
      for (let page = 1; ; page++) {
        const r = await installer.list({ sourceType: sourceType as never, page, pageSize: 200 });
        out.push(...(r.items as unknown as PackRecord[]));
        if (page >= r.totalPages) return out;
      }
    },
    async show(ref) {
      return (await installer.show(ref)) as unknown as PackRecord;
    },
    async hasUntrackedVersion(ref, version) {
      return (await installer.storage.listInstalled()).some((p) => p.ref === ref && p.version === version);
    },
    async history(ref) {
      const events = (await installer.history(ref)) as unknown as Json[];
      // Same answer as the API: history outlives an uninstall, but a ref never seen is unknown.
      if (events.length === 0) throw neverInstalled(ref);
      return events;
    },
    async historyPage(ref, paging): Promise<HistoryPage> {
      const p = await installer.historyPage(ref, paging);
      if (p.totalItems === 0) throw neverInstalled(ref);
      return {
        data: p.items as unknown as Json[],
        pagination: {
          page: p.page,
          page_size: p.pageSize,
          total_items: p.totalItems,
          total_pages: p.totalPages,
        },
      };
    },
    async verify(ref) {
      return printed(await installer.verify(ref, actor, "cli"));
    },
    async verifyAll() {
      return (await installer.verifyAll(actor, "cli")).map(printed);
    },
    async search(text, refresh) {
      const r = await installer.registries.searchDetailed(text, { refresh });
      const problems = r.registries
        .filter((st) => st.status === "stale" || st.status === "error")
        .map((st) => ({
          registry: st.registry,
          status: st.status as "stale" | "error",
          detail: st.error ? `${st.error.code}: ${st.error.message}` : null,
          hint: st.error?.hint ?? null,
          ageSeconds: st.ageSeconds,
        }));
      const nothingSearched =
        r.registries.length > 0
          ? undefined
          : installer.registries.list().length > 0
            ? ("all-disabled" as const)
            : ("none" as const);
      return { hits: r.results as unknown as SearchHit[], problems, nothingSearched };
    },
    close: () => installer.close(),
  };
}

function localUser(): string | null {
  try {
    return os.userInfo().username;
  } catch {
    return null;
  }
}

/** At most this many notices of one kind; then one line says how many more (the history has them all). */
const NOTICES_SHOWN = 5;

/** Say what the start-up repair did about operations a crash interrupted (stderr, one line each). */
function reportRecovery(report: Installer["lastReconcile"]): void {
  const done = {
    adopted: "completed from its verified files",
    rolled_back: "rolled back",
    completed: "finished",
  };
  const interrupted = report?.interrupted ?? [];
  for (const r of interrupted.slice(0, NOTICES_SHOWN))
    process.stderr.write(
      `attune: notice: an interrupted ${r.operation} of ${r.ref}${r.version ? ` ${r.version}` : ""} was ${done[r.resolution]}` +
        `${r.detail ? ` (${r.detail})` : ""}; see \`attune pack history ${r.ref}\`\n`,
    );
  if (interrupted.length > NOTICES_SHOWN)
    process.stderr.write(
      `attune: notice: and ${interrupted.length - NOTICES_SHOWN} more interrupted operations were settled (${[...new Set(interrupted.slice(NOTICES_SHOWN).map((r) => r.ref))].join(", ")}); each pack's history has them\n`,
    );
  const unnamed = report?.unnamed ?? [];
  for (const u of unnamed.slice(0, NOTICES_SHOWN))
    process.stderr.write(
      `attune: notice: an install of ${u.requested_source} (started ${u.started_at} by process ${u.pid} on ${u.host}) was interrupted before its pack was known; nothing was stored\n`,
    );
  if (unnamed.length > NOTICES_SHOWN)
    process.stderr.write(
      `attune: notice: and ${unnamed.length - NOTICES_SHOWN} more installs were interrupted before their pack was known; nothing was stored\n`,
    );
  for (const f of report?.failed ?? [])
    process.stderr.write(
      `attune: warning: could not repair an interrupted operation on ${f.ref} (${f.code}: ${f.message}); it is retried next time\n`,
    );
  // recorded as installed, but the packs directory has no files for them (emptied, restored from
  // an old backup, another --packs-dir): every command says so until it is mended
  const missing = report?.missingFiles ?? [];
  if (missing.length > 0) {
    const names = shortList(missing.map((m) => `${m.ref} ${m.version}`));
    process.stderr.write(
      `attune: warning: ${missing.length === 1 ? "an installed pack has" : `${missing.length} installed packs have`} no files in the packs directory: ${names}\n` +
        "hint: restore the packs directory from a backup, or reinstall each with `attune pack install <source> --force`; `attune pack verify --all` lists them\n",
    );
  }
  // the other way round: files in the packs directory that no record accounts for (left as they are)
  const untracked = report?.untracked ?? [];
  if (untracked.length > 0) {
    const names = shortList(untracked.map((u) => (u.version ? `${u.ref} ${u.version}` : u.ref)));
    process.stderr.write(
      `attune: warning: the packs directory holds ${untracked.length === 1 ? "a pack version" : `${untracked.length} pack versions`} without a record: ${names}\n` +
        (untracked.length === 1
          ? "hint: reinstall it to record it (`attune pack install <source> --force`), or remove its files with `attune pack uninstall <ref> --version <version>`\n"
          : "hint: reinstall each to record it (`attune pack install <source> --force`), or remove their files with `attune pack uninstall <ref> --version <version>`\n"),
    );
  }
}

/** The first NOTICES_SHOWN names, then how many more. */
function shortList(names: string[]): string {
  const shown = names.slice(0, NOTICES_SHOWN);
  if (names.length > NOTICES_SHOWN) shown.push(`and ${names.length - NOTICES_SHOWN} more`);
  return shown.join(", ");
}

function neverInstalled(ref: string): CliError {
  return new CliError("ENOTFOUND", `no pack ${ref} has ever been installed`, {
    hint: "see `attune pack list`",
  });
}

/** A report in the shape both modes print, warning when its verify is not in the history. */
function printed(r: { ref: string; historyError?: string }): VerifyReport {
  warnIfUnrecorded(r.ref, r.historyError);
  return verifyReport(r as unknown as VerifyReport);
}
