import os from "node:os";
import path from "node:path";
import { AttuneError, ErrorCodes } from "./errors";

/**
 * The user's home directory (where `~` and the default `~/.attune` point), absolute. An empty or
 * relative HOME is ECONFIG: the store must never land in whatever the working directory is.
 */
export function userHomeDir(): string {
  let home = "";
  try {
    home = os.homedir();
  } catch {
    // no HOME and no passwd entry: reported below
  }
  if (home === "" || !path.isAbsolute(home)) {
    throw new AttuneError(
      ErrorCodes.ECONFIG,
      `the home directory is unknown (HOME is ${home === "" ? "empty" : `the relative path "${home}"`})`,
      {
        hint: "set ATTUNE_HOME (or --home) to the directory for Attune's store, or HOME to an absolute path",
        details: { field: "HOME" },
      },
    );
  }
  return home;
}
