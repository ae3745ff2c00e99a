import type { Argv, CommandModule } from "yargs";
import { lazy } from "../run";

export const registryCommand: CommandModule = {
  command: "registry <command>",
  describe: "manage the pack registries (kept in $ATTUNE_HOME/config.yaml)",
  builder: (y: Argv) =>
    y
      // --version is the CLI's only at the top level (`pack uninstall --version` is the pack's)
      .version(false)
      .command({
        command: "list",
        describe: "list registries in search order (config.yaml, or ATTUNE_REGISTRIES when set)",
        builder: (b) => b.example("$0 registry list -o json", ""),
        handler: lazy(async () => (await import("../handlers/registry")).registryList),
      })
      .command({
        command: "add <name> <url>",
        describe: "add a registry index URL",
        builder: (b) =>
          b
            .positional("name", { type: "string", describe: "registry name" })
            .positional("url", {
              type: "string",
              describe: "where the index.json is: an http(s) URL, a file: URL or an absolute path",
            })
            .option("priority", {
              // a string: yargs would take 0x10, 1e3 or an empty value as numbers
              type: "string",
              describe: "lower is searched first (default: after the others)",
            })
            .example("$0 registry add main https://registry.example.com/index.json --priority 10", ""),
        handler: lazy(async () => (await import("../handlers/registry")).registryAdd),
      })
      .command({
        command: "remove <name>",
        describe: "remove a registry",
        builder: (b) =>
          b
            .positional("name", { type: "string", describe: "registry name" })
            .example("$0 registry remove main", ""),
        handler: lazy(async () => (await import("../handlers/registry")).registryRemove),
      })
      .example("$0 registry add main https://registry.example.com/index.json", "search this index for packs")
      .example("$0 registry list", "the registries in search order")
      .demandCommand(1, "give a registry command, e.g. `attune registry list`"),
  handler: () => undefined,
};
