#!/usr/bin/env node
import { main } from "./main";

// `attune pack list | head` closes the pipe early: that is the reader's choice, not an error.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code !== "EPIPE") throw err;
  process.exit(process.exitCode ?? 0);
});

// the build is minified: --debug stack traces name the source through its maps
if (process.argv.includes("--debug")) process.setSourceMapsEnabled(true);

process.exitCode = await main(process.argv.slice(2));
