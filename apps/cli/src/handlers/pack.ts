import fs from "node:fs";
import { parseChecksum, validateRef, validateVersion } from "@attune/pack-storage";
import readline from "node:readline/promises";
import type { DependencyWarnings, InstallResult, PackBackend, VerifyReport } from "../backends/types";
import { HISTORY_PAGE_SIZE } from "../commands/pack";
import { CliError, ExitCode, renderError } from "../errors";
import type { GlobalArgs } from "../globals";
import type { CommandResult } from "../output";
import { printable, printableName } from "../printable";
import { createProgress, progressEnabled } from "../progress";
import { historyPageTable, historyTable, packDetails, packTable, searchTable, verifyTable } from "./render";
import { apiUrlPlace, databaseUrlError, httpPermission, loadSettings } from "./settings";

/** Remote mode when an API URL is configured (flag, env or config.yaml), else the local store. */
export async function openBackend(argv: GlobalArgs): Promise<PackBackend> {
  const settings = await loadSettings(argv);
  if (settings.apiUrl.value) {
    const { openRemoteBackend } = await import("../backends/remote");
    return openRemoteBackend(
      settings.apiUrl.value,
      settings.token.value,
      apiUrlPlace(settings),
      httpPermission(settings),
    );
  }
  const { openLocalBackend } = await import("../backends/local");
  return openLocalBackend(settings).catch((err: unknown) => {
    throw databaseUrlError(err, settings);
  });
}

async function withBackend<T>(argv: GlobalArgs, fn: (b: PackBackend) => Promise<T>): Promise<T> {
  const backend = await openBackend(argv);
  try {
    return await fn(backend);
  } finally {
    await backend.close();
  }
}

interface InstallArgv extends GlobalArgs {
  source: string;
  ref?: string;
  force?: boolean;
  checksum?: string;
  skipDeps?: boolean;
  skipTests?: boolean;
  registry?: string;
  refresh?: boolean;
}

export async function packInstall(argv: InstallArgv): Promise<CommandResult> {
  // checked here so that the refusal names the flag, in both modes (the installer and the API name
  // their own field, `checksum`)
  if (argv.checksum !== undefined) parseChecksum(String(argv.checksum), "--checksum");
  const drawn = progressEnabled(Boolean(argv.quiet));
  const progress = createProgress(drawn);
  const r = await withBackend(argv, async (b) => {
    const interrupt = b.mode === "local" ? onInterrupt(progress) : null;
    try {
      return await b.install(
        {
          source: argv.source,
          ref: argv.ref,
          force: argv.force,
          checksum: argv.checksum,
          skipDeps: argv.skipDeps,
          skipTests: argv.skipTests,
          registry: argv.registry,
          refresh: argv.refresh,
        },
        drawn ? (u) => progress.update(u) : undefined,
        interrupt?.signal,
      );
    } catch (err) {
      if (interrupt?.signal.aborted && (err as { code?: unknown }).code === "EABORTED") {
        const by = interrupt.by();
        throw new CliError(
          "EINTERRUPTED",
          `the install was stopped (${by === "SIGTERM" ? "SIGTERM" : "Ctrl-C"}); nothing was installed`,
          { hint: "run the same command again to install", details: { signal: by } },
        );
      }
      throw withRefFlag(b.mode === "local" ? withLocalPathHint(err, argv.source) : err, argv);
    } finally {
      interrupt?.dispose();
    }
  }).finally(() => progress.done());
  const notice = refVersionNotice(r);
  if (notice && !argv.quiet) process.stderr.write(`attune: note: ${printable(notice)}\n`);
  warnDependencies(r, String(r.pack.ref), String(r.pack.version));
  const data = { pack: r.pack, installation: r.installation, ...dependencyFields(r) };
  return { data, table: () => installedLine(r) + packDetails(data) };
}

/** The skip-deps findings of a result, each only when not empty (as the API sends them). */
function dependencyFields(r: DependencyWarnings): DependencyWarnings {
  return {
    ...(r.unmet_dependencies?.length ? { unmet_dependencies: r.unmet_dependencies } : {}),
    ...(r.broken_dependents?.length ? { broken_dependents: r.broken_dependents } : {}),
  };
}

/**
 * What --skip-deps let through, on stderr whatever the output format (and with --quiet too: it is
 * the state the store is left in, not progress): the unmet dependencies of the pack installed, and
 * the installed packs left needing a version (or a pack) that is no longer there. Names come from
 * the store or the server, so they are made terminal-safe like every other line.
 */
function warnDependencies(r: DependencyWarnings, ref: string, version: string | null): void {
  const unmet = r.unmet_dependencies ?? [];
  const broken = r.broken_dependents ?? [];
  // worded as EDEPENDENCY words them: ref@range, "*" included
  const spec = (d: { ref: string; range: string }) => `${d.ref}@${d.range}`;
  const missing = unmet.filter((d) => d.installed === null).length;
  const todo =
    missing === unmet.length
      ? `install ${unmet.length === 1 ? "it" : "them"}`
      : missing === 0
        ? `install a version in range of ${unmet.length === 1 ? "it" : "each"}`
        : "install the missing packs and a version in range of the others";
  if (unmet.length > 0)
    process.stderr.write(
      `attune: warning: ${printable(`${ref} ${version ?? ""}`.trim())} is installed without what it needs: ${printable(
        unmet
          .map((d) => `${spec(d)} (${d.installed ? `installed: ${d.installed}` : "not installed"})`)
          .join(", "),
      )}; ${todo} before using the pack\n`,
    );
  if (broken.length > 0)
    process.stderr.write(
      `attune: warning: ${version === null ? `with ${printable(ref)} removed` : `with ${printable(`${ref} ${version}`)}`}, installed packs go without what they need: ${printable(
        broken.map((d) => `${d.ref} ${d.version} (needs ${spec({ ref, range: d.range })})`).join(", "),
      )}\n`,
    );
}

/**
 * A git ref that looks like a version (`v3.0.0`, `3.0.0`) but holds a pack.yaml of another
 * version: the install stands (a tag name need not match), and the user is told what was installed.
 */
export function refVersionNotice(r: Pick<InstallResult, "pack" | "installation">): string | null {
  const ref = r.installation?.source_ref;
  const version = r.pack?.version;
  if (r.installation?.source_type !== "git" || typeof ref !== "string" || typeof version !== "string")
    return null;
  const named = /^v?(\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?)$/i.exec(ref)?.[1];
  if (named === undefined || named === version) return null;
  return `git ref ${ref} holds pack.yaml version ${version}, not ${named}: installed ${String(r.pack.ref)} ${version}`;
}

/**
 * `attune pack install my-pack` in the directory holding `my-pack/`: a bare name is a registry ref
 * (DESIGN.md §4), so say how to mean the local one when the registry lookup fails.
 */
function withLocalPathHint(err: unknown, source: string): unknown {
  const code = (err as { code?: unknown }).code;
  // not when the registry has the pack but not that version: its hint lists the versions
  const field = (err as { details?: { field?: unknown } }).details?.field;
  if (code !== "ENOTFOUND" || field === "version" || /[/\\]/.test(source)) return err;
  // the name as typed, else without its @version (`my-pack@1.0.0` when `my-pack/` is here):
  // only a path that exists is hinted at
  const local = [source, source.replace(/@.*$/s, "")].find((p) => p !== "" && fs.existsSync(p));
  if (local === undefined) return err;
  const e = err as Error & { hint?: string };
  return new CliError("ENOTFOUND", e.message, {
    hint: `a bare name is a registry ref; for the local ${fs.statSync(local).isDirectory() ? "directory" : "file"} give a path: attune pack install ./${local}`,
    cause: err,
  });
}

/**
 * A `--ref` a registry ref cannot take: the installer refuses it as the request's ref field, in the
 * words of a source (`use ref, ref@1.2.3, …`), and the API in its own (`ref_spec: …`, a hint about
 * ref_spec). Said of the flag here, in both modes alike (the API's status stays at the end of the
 * line). A git ref keeps its own words: they already say what a git ref is.
 */
function withRefFlag(err: unknown, argv: InstallArgv): unknown {
  const e = err as {
    code?: unknown;
    message?: unknown;
    details?: { field?: unknown; errors?: Array<{ field?: unknown }> };
  };
  const field = e?.details?.field ?? e?.details?.errors?.[0]?.field;
  if (
    argv.ref === undefined ||
    e?.code !== "EINVALID_INPUT" ||
    typeof e.message !== "string" ||
    (field !== "refSpec" && field !== "ref_spec")
  )
    return err;
  // the API may name its field first ("ref_spec: …"); the flag is named instead
  const [, said, status = ""] = /^(.*?)( \(API status \d+\))?$/s.exec(e.message) ?? [];
  const text = said.replace(/^(?:ref_spec|refSpec): /, "");
  const name = argv.source.trim().replace(/@.*$/s, "");
  const refused = (message: string, hint: string) =>
    new CliError("EINVALID_INPUT", `${message}${status}`, { hint, cause: err, details: e.details });
  if (/ is not a version, "latest" or a semver range$/.test(text))
    return refused(
      `--ref: ${text}`,
      `--ref takes a registry version for a registry ref: 1.2.3, latest or a range such as ^1.2 (or leave it out for the latest)`,
    );
  if (/^give the version either as ref@version or as ref, not both$/.test(text))
    return refused(
      `--ref ${JSON.stringify(argv.ref)} gives a version, and so does ${JSON.stringify(argv.source.trim())}`,
      `give the version once: \`attune pack install ${argv.source.trim()}\`, or the bare ref with --ref (\`attune pack install ${name} --ref <version>\`)`,
    );
  return err;
}

/**
 * What the install did, as the table's first line: local mode's result says it; through the API it
 * is the installation's meta (`action`, `previous_version`), which both modes record.
 */
function installedLine(r: InstallResult & { action?: unknown; previousVersion?: unknown }): string {
  const { ref, version } = r.pack;
  const meta = (r.installation as { meta?: Record<string, unknown> } | undefined)?.meta ?? {};
  const action = r.action ?? meta.action;
  const prev = r.previousVersion ?? meta.previous_version;
  const previous = typeof prev === "string" ? prev : null;
  if (previous !== null && previous !== version && (action === "upgrade" || action === "downgrade"))
    return `${action === "upgrade" ? "Upgraded" : "Downgraded"} ${ref} from ${previous} to ${version}\n`;
  return `${action === "reinstall" ? "Reinstalled" : "Installed"} ${ref} ${version}\n`;
}

/**
 * Ctrl-C (or SIGTERM: `timeout`, systemd, `docker stop`) during a local install: the first stops
 * it and lets it clean up (nothing is left, the private copy of an archive included; once the
 * install has committed to finishing, it finishes), the second quits at once. In remote mode the
 * signals are not used: the CLI ends as usual and the server finishes on its own.
 */
function onInterrupt(progress: { done(): void }): {
  signal: AbortSignal;
  by(): NodeJS.Signals | null;
  dispose(): void;
} {
  const ctl = new AbortController();
  let by: NodeJS.Signals | null = null;
  const handler = (sig: NodeJS.Signals) => {
    if (ctl.signal.aborted) {
      // the second one: Node's own handling, which ends the process as that signal does
      dispose();
      process.kill(process.pid, sig);
      return;
    }
    by = sig;
    progress.done();
    process.stderr.write(
      sig === "SIGTERM"
        ? "attune: terminated (SIGTERM): stopping and cleaning up; an install already storing its files finishes first\n"
        : "attune: interrupted: stopping and cleaning up; an install already storing its files finishes first (Ctrl-C again to quit at once)\n",
    );
    ctl.abort(new Error(sig === "SIGTERM" ? "terminated (SIGTERM)" : "interrupted (Ctrl-C)"));
  };
  const dispose = () => {
    process.off("SIGINT", handler);
    process.off("SIGTERM", handler);
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  return { signal: ctl.signal, by: () => by, dispose };
}

interface UninstallArgv extends GlobalArgs {
  ref: string;
  version?: string;
  yes?: boolean;
  skipDeps?: boolean;
}

export async function packUninstall(argv: UninstallArgv): Promise<CommandResult> {
  if (!argv.yes) {
    // on a terminal, a pack (or version) that is not installed is said so before asking to remove it
    if (interactive()) await withBackend(argv, (b) => assertInstalled(b, argv.ref, argv.version));
    await confirm(`Remove pack ${argv.ref}${argv.version ? ` ${argv.version}` : " (every version)"}?`);
  }
  const r = await withBackend(argv, (b) => b.uninstall(argv.ref, argv.version, argv.skipDeps));
  warnDependencies(r, argv.ref, null);
  // only the documented fields, so local and remote output are identical
  return {
    data: { ref: r.ref, removed: r.removed, ...dependencyFields(r) },
    table: () => `Removed ${r.ref}${r.removed.length ? ` (${r.removed.join(", ")})` : ""}\n`,
  };
}

/**
 * What `uninstall` would refuse, with the same error (before the question): a malformed ref or
 * version first (usage errors, exit 2, checked in uninstall's order), then a pack or version that
 * is not installed.
 */
async function assertInstalled(b: PackBackend, ref: string, version: string | undefined): Promise<void> {
  validateRef(ref);
  if (version !== undefined) validateVersion(version);
  const { pack } = await b.show(ref);
  if (version === undefined || pack.version === version) return;
  // a version on disk but not recorded is removed too; only local mode can tell (the API does not
  // say), so in remote mode the question is asked and the server decides, as with --yes
  if (!b.hasUntrackedVersion || (await b.hasUntrackedVersion(ref, version))) return;
  throw new CliError("ENOTFOUND", `pack '${ref}' version ${version} is not installed`, {
    hint: "list installed packs with `attune pack list`",
    details: { ref, version },
  });
}

const interactive = () => Boolean(process.stdin.isTTY && process.stderr.isTTY);

async function confirm(question: string): Promise<void> {
  if (!interactive())
    throw new CliError("EUSAGE", "refusing to uninstall without confirmation: stdin is not a terminal", {
      hint: "pass --yes to confirm non-interactively",
    });
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${question} [y/N] `).catch((e: unknown) => {
      // readline rejects on Ctrl-C ("Aborted with Ctrl+C") and Ctrl-D: the user's "no", not a bug
      process.stderr.write("\n");
      if (/Ctrl\+C/.test(String((e as Error)?.message)))
        throw new CliError("EINTERRUPTED", "uninstall cancelled (Ctrl-C)", { hint: "nothing was removed" });
      return "";
    });
    if (!/^y(es)?$/i.test(answer.trim()))
      throw new CliError("ECANCELLED", "uninstall cancelled", { hint: "nothing was removed" });
  } finally {
    rl.close();
  }
}

export async function packList(argv: GlobalArgs & { sourceType?: string }): Promise<CommandResult> {
  const rows = await withBackend(argv, (b) => b.list(argv.sourceType));
  return { data: rows, table: () => packTable(rows, argv.sourceType) };
}

export async function packShow(argv: GlobalArgs & { ref: string }): Promise<CommandResult> {
  const r = await withBackend(argv, (b) => b.show(argv.ref));
  return { data: r, table: () => packDetails(r) };
}

export async function packHistory(
  argv: GlobalArgs & { ref: string; page?: string; pageSize?: string },
): Promise<CommandResult> {
  if (argv.page === undefined && argv.pageSize === undefined) {
    // no paging asked for: every event, the array printed as before pages existed
    const events = await withBackend(argv, (b) => b.history(argv.ref));
    return { data: events, table: () => historyTable(events) };
  }
  // one page, in the API's shape in both modes: page 1 holds the newest events
  const paging = {
    page: Number(argv.page ?? 1),
    pageSize: Number(argv.pageSize ?? HISTORY_PAGE_SIZE),
  };
  const page = await withBackend(argv, (b) => b.historyPage(argv.ref, paging));
  return { data: page, table: () => historyPageTable(page) };
}

export async function packVerify(
  argv: GlobalArgs & { refs?: string[]; all?: boolean },
): Promise<CommandResult> {
  const refs = argv.refs ?? [];
  if (refs.length === 0 && !argv.all)
    throw new CliError("EUSAGE", "give the refs of the packs to verify, or --all", {
      hint: "e.g. `attune pack verify hello_world` or `attune pack verify --all`",
    });
  if (refs.length > 0 && argv.all)
    throw new CliError("EUSAGE", "give refs or --all, not both", {
      hint: "`attune pack verify --all` verifies every installed pack",
    });
  const progress = createProgress(progressEnabled(Boolean(argv.quiet)));
  const missing: unknown[] = [];
  const reports: VerifyReport[] = await withBackend(argv, async (b) => {
    if (argv.all) {
      progress.update({ phase: "hash", message: "all packs" });
      return b.verifyAll();
    }
    const out: VerifyReport[] = [];
    for (const ref of refs) {
      progress.update({ phase: "hash", message: ref });
      // an unknown ref is reported, and the others are still verified: one typo must not hide a
      // tampered pack (its report and exit 3)
      const report = await b.verify(ref).catch((e: unknown) => {
        if ((e as { code?: unknown }).code !== "ENOTFOUND") throw e;
        missing.push(e);
        return null;
      });
      if (report) out.push(report);
    }
    return out;
  }).finally(() => progress.done());
  // nothing verified at all: an error like any other (stdout stays empty)
  if (reports.length === 0 && missing.length > 0) {
    for (const e of missing.slice(0, -1)) process.stderr.write(renderError(e, false));
    throw missing[missing.length - 1];
  }
  for (const e of missing) process.stderr.write(renderError(e, false));
  const bad = reports.filter((r) => !r.ok);
  if (bad.length > 0) {
    // The report goes to stdout; the failure line goes to stderr like any error, so scripts see both.
    // what differs: the files, or why the tree could not be hashed at all (a planted link)
    const files = bad.flatMap((r) => [
      ...[...r.changed, ...r.added, ...r.removed].map((f) => `${r.ref}/${printableName(f)}`),
      ...(r.error ? [`${r.ref}: ${r.error}`] : []),
    ]);
    const err = new CliError(
      "EINTEGRITY",
      `${bad.map((r) => r.ref).join(", ")} differ${bad.length === 1 ? "s" : ""} from the recorded checksum` +
        (files.length ? `: ${files.slice(0, 5).join(", ")}${files.length > 5 ? ", …" : ""}` : ""),
      { hint: "reinstall the pack (attune pack install <source> --force) and find out who changed it" },
    );
    process.stderr.write(renderError(err, false));
  }
  return {
    data: reports,
    table: () => verifyTable(reports),
    // tampering outranks a ref that is not installed
    exitCode: bad.length > 0 ? ExitCode.INTEGRITY : missing.length > 0 ? ExitCode.FAILURE : undefined,
  };
}

export async function packSearch(
  argv: GlobalArgs & { text: string; refresh?: boolean },
): Promise<CommandResult> {
  const { hits, problems, nothingSearched } = await withBackend(argv, (b) =>
    b.search(argv.text, argv.refresh),
  );
  // Say which registries could not be read, or that there were none to search, so a short (or
  // empty) list is not mistaken for "no such pack".
  if (nothingSearched && !argv.quiet)
    process.stderr.write(`attune: warning: ${NOTHING_SEARCHED[nothingSearched]}\n`);
  if (!argv.quiet)
    for (const p of problems)
      process.stderr.write(
        `attune: warning: registry ${p.registry} ${p.status === "stale" ? `could not be read now; using a copy ${age(p.ageSeconds)}` : "could not be read"}` +
          // the detail may quote a remote's reply (the API's too): terminal-safe, like error lines
          `${p.detail ? ` (${printable(p.detail)})` : ""}\n` +
          // how to mend it, as an error line pair has it
          (p.hint ? `hint: ${printable(p.hint)}\n` : ""),
      );
  return { data: hits, table: () => searchTable(hits) };
}

const NOTHING_SEARCHED = {
  none: "no registry is configured, so none was searched; add one with `attune registry add <name> <url>` or ATTUNE_REGISTRIES",
  "none-on-server":
    "the API server has no registry configured, so none was searched; add one there (its config.yaml or ATTUNE_REGISTRIES)",
  "all-disabled":
    "every configured registry is disabled (enabled: false in config.yaml), so none was searched; `attune registry list` shows them",
};

/** "3 h old", "2 days old": the age of a registry copy, for the stale warning. */
function age(seconds: number | null): string {
  if (seconds === null) return "of unknown age";
  if (seconds < 120) return `${seconds} s old`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min old`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h old`;
  return `${Math.round(seconds / 86400)} days old`;
}
