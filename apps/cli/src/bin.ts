#!/usr/bin/env node
import { runShortcut } from "./shortcut";

// `attune pack list | head` closes the pipe early: that is the reader's choice, not an error.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code !== "EPIPE") throw err;
  process.exit(process.exitCode ?? 0);
});

// the build is minified: --debug stack traces name the source through its maps
if (process.argv.includes("--debug")) process.setSourceMapsEnabled(true);

const args = process.argv.slice(2);
// a plain `pack checksum` skips loading yargs (shortcut.ts); everything else goes through main()
process.exitCode = (await runShortcut(args)) ?? (await (await import("./main")).main(args));
