import type { Argv, CommandModule } from "yargs";
import { lazy } from "../run";

export const configCommand: CommandModule = {
  command: "config <command>",
  describe: "inspect the effective configuration",
  builder: (y: Argv) =>
    y
      // --version is the CLI's only at the top level (`pack uninstall --version` is the pack's)
      .version(false)
      .command({
        command: "show",
        describe: "print every setting, its value and where it came from (secrets redacted)",
        builder: (b) =>
          b.example("$0 config show", "").example("$0 --home /srv/attune config show -o yaml", ""),
        handler: lazy(async () => (await import("../handlers/config")).configShow),
      })
      .example("$0 config show", "every setting in effect and where it comes from")
      .demandCommand(1, "give a config command, e.g. `attune config show`"),
  handler: () => undefined,
};
