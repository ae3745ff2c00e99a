import type { Argv, CommandModule } from "yargs";
import { lazy } from "../run";

export const dbCommand: CommandModule = {
  command: "db <command>",
  describe: "database maintenance",
  builder: (y: Argv) =>
    y
      // --version is the CLI's only at the top level (`pack uninstall --version` is the pack's)
      .version(false)
      .command({
        command: "migrate",
        describe: "apply pending migrations (SQLite or PostgreSQL)",
        builder: (b) =>
          b
            .example("$0 db migrate", "the embedded SQLite store")
            .example("$0 db migrate --database-url postgresql://u@db/attune", "a PostgreSQL database"),
        handler: lazy(async () => (await import("../handlers/db")).dbMigrate),
      })
      .example("$0 db migrate", "create or update the database schema")
      .demandCommand(1, "give a db command, e.g. `attune db migrate`"),
  handler: () => undefined,
};
