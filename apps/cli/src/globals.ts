import type { Argv } from "yargs";
import { CliError } from "./errors";

/** Options every command accepts. Values are undefined unless given as flags (precedence is resolved later). */
export interface GlobalArgs {
  home?: string;
  databaseUrl?: string;
  packsDir?: string;
  output?: string;
  apiUrl?: string;
  token?: string;
  quiet?: boolean;
  debug?: boolean;
}

/**
 * Options that take a value refuse an empty one (`--checksum ""`, or `--checksum` at the end):
 * a script passing an unset variable must not run as if the option had not been given.
 */
export function nonEmpty(...names: string[]) {
  return (a: Record<string, unknown>) => {
    for (const name of names) {
      const v = a[name]; // a repeated option never gets here: main.ts refuses it for every command
      if (v !== undefined && (typeof v !== "string" || v.trim() === ""))
        throw new CliError("EUSAGE", `--${name} needs a value`, {
          hint: `give --${name} <value>, or leave the option out`,
        });
    }
    return true;
  };
}

export function globalOptions<T>(y: Argv<T>): Argv<T & GlobalArgs> {
  return (
    y
      .option("home", {
        type: "string",
        describe: "Attune home: config.yaml, embedded database, packs [env ATTUNE_HOME, default ~/.attune]",
        global: true,
      })
      .option("database-url", {
        type: "string",
        describe: "database URL (file:… or postgresql://…) [env DATABASE_URL, default file:<home>/attune.db]",
        global: true,
      })
      .option("packs-dir", {
        type: "string",
        describe: "where pack files are stored [env ATTUNE_PACKS_DIR, default <home>/packs]",
        global: true,
      })
      .option("output", {
        alias: "o",
        type: "string",
        choices: ["table", "json", "yaml"],
        describe: "output format [env ATTUNE_OUTPUT; default table on a TTY, json otherwise]",
        global: true,
      })
      .option("api-url", {
        type: "string",
        describe: "remote mode: run pack commands through this Attune API [env ATTUNE_API_URL]",
        global: true,
      })
      .option("token", {
        type: "string",
        describe: "API token for remote mode [env ATTUNE_TOKEN]",
        global: true,
      })
      .option("quiet", {
        alias: "q",
        type: "boolean",
        describe: "no progress or notices on stderr",
        global: true,
      })
      .option("debug", { type: "boolean", describe: "print stack traces of errors", global: true })
      // `--home "$H"` with H unset must not fall back to ~/.attune (nor `--api-url ""` to local mode)
      .check(nonEmpty("home", "database-url", "packs-dir", "api-url", "token"))
      // "version" stays out of the group: `pack uninstall --version` is the pack's version.
      .group(
        ["home", "database-url", "packs-dir", "output", "api-url", "token", "quiet", "debug", "help"],
        "Global options:",
      ) as Argv<T & GlobalArgs>
  );
}
