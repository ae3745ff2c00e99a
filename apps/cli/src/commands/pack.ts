import type { Argv, CommandModule } from "yargs";
import { CliError } from "../errors";
import { nonEmpty } from "../globals";
import { lazy } from "../run";
import { loadChecksum } from "../shortcut";

const SOURCE_TYPES = ["git", "archive", "local_directory", "local_archive", "registry"];

/** A history page's limits: the API's (those of its list), so both modes take the same numbers. */
export const HISTORY_MAX_PAGE = 1_000_000;
export const HISTORY_MAX_PAGE_SIZE = 100;
export const HISTORY_PAGE_SIZE = 20;

/** --page and --page-size: plain whole numbers in range (not 0x10, 1e3, -1), else a usage error. */
function pagingNumbers(a: Record<string, unknown>): true {
  for (const [name, max, hint] of [
    ["page", HISTORY_MAX_PAGE, "e.g. --page 2 (page 1 holds the newest events)"],
    ["page-size", HISTORY_MAX_PAGE_SIZE, `e.g. --page-size 50 (default ${HISTORY_PAGE_SIZE})`],
  ] as const) {
    const v = a[name];
    if (v === undefined) continue;
    const text = String(v).trim();
    if (!/^[0-9]{1,7}$/.test(text) || Number(text) < 1 || Number(text) > max)
      throw new CliError(
        "EUSAGE",
        `--${name} must be a whole number from 1 to ${max}, not ${JSON.stringify(String(v))}`,
        {
          hint,
        },
      );
  }
  return true;
}

export const packCommand: CommandModule = {
  command: "pack <command>",
  describe: "install, inspect, verify and checksum packs",
  builder: (y: Argv) =>
    y
      // --version is the CLI's only at the top level (`pack uninstall --version` is the pack's)
      .version(false)
      .command({
        command: "checksum <path>",
        describe: "print the checksum of a pack directory or archive file",
        builder: (b) =>
          b
            .positional("path", { type: "string", describe: "pack directory or .tar.gz/.tgz/.tar/.zip file" })
            .option("json", { type: "boolean", describe: "print a registry index install_sources template" })
            .example("$0 pack checksum ./my-pack", "directory checksum (framed v1)")
            .example("$0 pack checksum my-pack-1.0.0.tgz -o json", '{"checksum":"sha256:…","path":"…"}')
            .example("$0 pack checksum ./my-pack --json", "index source template with the checksum"),
        handler: lazy(loadChecksum),
      })
      .command({
        command: "install <source>",
        describe: "install a pack from a directory, archive, git URL, archive URL or registry ref",
        builder: (b) =>
          b
            .positional("source", {
              type: "string",
              describe: "path, https URL (.git or archive) or ref[@version] from a registry",
            })
            .option("ref", {
              type: "string",
              describe:
                "git source: tag, branch or commit; registry ref: the version (1.2.3, latest or a range)",
            })
            .option("force", { type: "boolean", describe: "replace the same ref+version if installed" })
            .option("checksum", {
              type: "string",
              describe:
                "expected checksum (sha256:…) of the pack directory, or for an archive source of the archive file (what `pack checksum` prints for either)",
            })
            .option("skip-deps", { type: "boolean", describe: "do not check pack dependencies" })
            .option("skip-tests", {
              type: "boolean",
              describe:
                "record that the pack's tests are to be skipped (meta.skip_tests; the registry runs no tests itself)",
            })
            .option("registry", { type: "string", describe: "look the ref up only in this registry" })
            .option("refresh", {
              type: "boolean",
              describe:
                "read the registry indexes again now (not the cached copies), so latest is the newest published",
            })
            .check(nonEmpty("ref", "checksum", "registry"))
            .example("$0 pack install ./examples/packs/hello-world", "from a local directory")
            .example("$0 pack install https://git.example.com/p.git --ref v1.0.0", "from git")
            .example("$0 pack install hello_world@1.0.0", "from the configured registries"),
        handler: lazy(async () => (await import("../handlers/pack")).packInstall),
      })
      .command({
        command: "uninstall <ref>",
        describe: "remove an installed pack (files and records)",
        builder: (b) =>
          b
            .positional("ref", { type: "string", describe: "pack ref" })
            // here --version is the pack's version, not the CLI's
            .version(false)
            .option("version", { type: "string", describe: "remove only this version" })
            .option("yes", { alias: "y", type: "boolean", describe: "do not ask for confirmation" })
            .option("skip-deps", {
              type: "boolean",
              describe: "uninstall even if installed packs depend on it",
            })
            .check(nonEmpty("version"))
            .example("$0 pack uninstall hello_world --yes", "remove without asking"),
        handler: lazy(async () => (await import("../handlers/pack")).packUninstall),
      })
      .command({
        command: "list",
        describe: "list installed packs",
        builder: (b) =>
          b
            .option("source-type", {
              type: "string",
              choices: SOURCE_TYPES,
              describe: "only this source type",
            })
            .example("$0 pack list", "all installed packs")
            .example("$0 pack list --source-type git -o json", "git-installed packs as JSON"),
        handler: lazy(async () => (await import("../handlers/pack")).packList),
      })
      .command({
        command: "show <ref>",
        describe: "show an installed pack and its installation record",
        builder: (b) =>
          b
            .positional("ref", { type: "string", describe: "pack ref" })
            .example("$0 pack show hello_world", ""),
        handler: lazy(async () => (await import("../handlers/pack")).packShow),
      })
      .command({
        command: "history <ref>",
        describe: "install, upgrade, uninstall and verify events of a pack",
        builder: (b) =>
          b
            .positional("ref", { type: "string", describe: "pack ref" })
            // strings: yargs would take 0x10, 1e3 or an empty value as numbers
            .option("page", {
              type: "string",
              describe: `show one page: 1 (the default with --page-size) holds the newest events, each page reads oldest first (1-${HISTORY_MAX_PAGE})`,
            })
            .option("page-size", {
              type: "string",
              describe: `events a page (1-${HISTORY_MAX_PAGE_SIZE}, default ${HISTORY_PAGE_SIZE} with --page)`,
            })
            .check(nonEmpty("page", "page-size"))
            .check(pagingNumbers)
            .example("$0 pack history hello_world", "every event, oldest first")
            .example("$0 pack history hello_world --page-size 20", "the latest 20 events")
            .example("$0 pack history hello_world --page 2 --page-size 20", "the 20 before those"),
        handler: lazy(async () => (await import("../handlers/pack")).packHistory),
      })
      .command({
        command: "verify [refs..]",
        describe: "re-hash installed packs and compare with the recorded checksum (exit 3 if tampered)",
        builder: (b) =>
          b
            .positional("refs", { type: "string", array: true, describe: "pack refs" })
            .option("all", { type: "boolean", describe: "verify every installed pack" })
            .example("$0 pack verify hello_world", "one pack")
            .example("$0 pack verify --all -o json", "every pack, as JSON"),
        handler: lazy(async () => (await import("../handlers/pack")).packVerify),
      })
      .command({
        command: "search <text>",
        describe: "search the configured registry indexes",
        builder: (b) =>
          b
            .positional("text", { type: "string", describe: "matched on ref, label, description, keywords" })
            .option("refresh", {
              type: "boolean",
              describe: "read the registry indexes again now instead of using cached copies",
            })
            .example("$0 pack search hello", "")
            .example("$0 pack search hello --refresh", "see what was published a minute ago"),
        handler: lazy(async () => (await import("../handlers/pack")).packSearch),
      })
      .command({
        command: "index-entry <path>",
        describe: "build a registry index entry for a pack directory or archive",
        builder: (b) =>
          b
            .positional("path", { type: "string", describe: "pack directory (or archive for --archive-url)" })
            .option("git-url", { type: "string", describe: "git repository URL of the pack" })
            .option("git-ref", { type: "string", describe: "git tag/branch/commit (with --git-url)" })
            .option("archive-url", { type: "string", describe: "URL of the pack archive" })
            .option("archive-file", {
              type: "string",
              describe: "the archive published at --archive-url (default: <path> when it is an archive)",
            })
            .option("index-file", { type: "string", describe: "merge the entry into this index.json" })
            .check((a) => {
              // a CliError, so the fail handler reports it as a usage error (exit 2)
              const hint = "give --git-url U --git-ref R, or --archive-url U (or both)";
              if (!a["git-url"] && !a["archive-url"])
                throw new CliError("EUSAGE", "no source URL given", { hint });
              if (a["git-url"] && !a["git-ref"])
                throw new CliError("EUSAGE", "--git-url needs --git-ref", { hint });
              return true;
            })
            .example("$0 pack index-entry ./p --git-url https://g.example/p.git --git-ref v1.0.0", "")
            .example(
              "$0 pack index-entry p-1.0.0.tgz --archive-url https://e.example/p-1.0.0.tgz --index-file index.json",
              "",
            ),
        handler: lazy(async () => (await import("../handlers/index-entry")).packIndexEntry),
      })
      .example("$0 pack install ./examples/packs/hello-world", "install a pack from a local directory")
      .example("$0 pack list -o json", "the installed packs as JSON")
      .example("$0 pack verify --all", "exit 3 when any installed pack was changed")
      .demandCommand(1, "give a pack command, e.g. `attune pack list`"),
  handler: () => undefined,
};
