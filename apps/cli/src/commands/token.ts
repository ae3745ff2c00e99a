import type { Argv, CommandModule } from "yargs";
import { nonEmpty } from "../globals";
import { lazy } from "../run";

export const SCOPES = ["packs:read", "packs:install", "packs:delete"];

export const tokenCommand: CommandModule = {
  command: "token <command>",
  describe: "manage API tokens (stored as hashes in the database)",
  builder: (y: Argv) =>
    y
      // --version is the CLI's only at the top level (`pack uninstall --version` is the pack's)
      .version(false)
      .command({
        command: "create",
        describe: "create a token; its secret is printed once",
        builder: (b) =>
          b
            .option("name", {
              type: "string",
              demandOption: true,
              describe: "a name to recognise the token by",
            })
            .option("scopes", {
              type: "string",
              describe: `comma-separated scopes (default: all of ${SCOPES.join(",")})`,
            })
            .option("expires-in", {
              type: "string",
              // one value, taken even when it starts with "-" and a digit: `--expires-in -5m` is
              // refused by its own check below (a negative span), not as unknown options -5 and -m
              nargs: 1,
              describe:
                "the token expires this long from now: a whole number of minutes, hours, days or weeks (90m, 12h, 30d, 2w; at most 3650d); default: never",
            })
            .check(nonEmpty("expires-in"))
            .example("$0 token create --name ci --scopes packs:read,packs:install", "")
            .example("$0 token create --name ci --expires-in 30d", ""),
        handler: lazy(async () => (await import("../handlers/token")).tokenCreate),
      })
      .command({
        command: "list",
        describe: "list tokens (never their secrets)",
        builder: (b) => b.example("$0 token list", ""),
        handler: lazy(async () => (await import("../handlers/token")).tokenList),
      })
      .command({
        command: "revoke <id>",
        describe: "revoke a token",
        builder: (b) =>
          b
            // a string: yargs would turn "abc" into NaN before the handler could name it
            .positional("id", { type: "string", describe: "token id (see token list)" })
            .example("$0 token revoke 3", ""),
        handler: lazy(async () => (await import("../handlers/token")).tokenRevoke),
      })
      .example("$0 token create --name ci --scopes packs:read", "a read-only API token, printed once")
      .example("$0 token create --name ci --expires-in 30d", "a token the API refuses after 30 days")
      .example("$0 token list", "the tokens (never their secrets)")
      .demandCommand(1, "give a token command, e.g. `attune token list`"),
  handler: () => undefined,
};
