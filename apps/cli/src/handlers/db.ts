import { migrate, resolveDatabaseUrl } from "@attune/db";
import { ioError, makeDirs } from "@attune/pack-storage";
import type { GlobalArgs } from "../globals";
import { type CommandResult } from "../output";
import { databaseUrlError, loadSettings, redactUrl, storeOptions } from "./settings";

export async function dbMigrate(argv: GlobalArgs): Promise<CommandResult> {
  const settings = await loadSettings(argv);
  const opts = storeOptions(settings);
  // The embedded SQLite file lives in the home directory, which may not exist yet.
  await makeDirs(opts.home, 0o700).catch((err: unknown) => {
    throw ioError(err, opts.home, "cannot create the Attune home");
  });
  let url: string;
  try {
    url = resolveDatabaseUrl({ home: opts.home, databaseUrl: opts.databaseUrl });
  } catch (err) {
    throw databaseUrlError(err, settings);
  }
  const { applied } = await migrate(url).catch((err: unknown) => {
    throw databaseUrlError(err, settings);
  });
  const shown = redactUrl(url);
  return {
    data: { database_url: shown, applied },
    table: () =>
      applied.length === 0
        ? `Database ${shown} is up to date.\n`
        : `Applied ${applied.length} migration(s) to ${shown}:\n` + applied.map((m) => `  ${m}\n`).join(""),
  };
}
