import path from "node:path";
import { openDatabase, repositories } from "@attune/db";
import { openInstaller } from "@attune/installer";
import { readConfigFile } from "@attune/pack-registry";
import { effectiveLocalSourceRoots, readStartupConfig, startupErrorLines, type ApiConfig } from "./config";
import { startServer } from "./listen";
import { createLogger } from "./logger";
import { tokenVerifierFromRepository } from "./token-verifier";

/**
 * `pnpm api`: read the environment, open the installer and the token store, listen, and shut
 * down gracefully on SIGTERM/SIGINT. Everything else lives in createServer/startServer.
 */
async function main(): Promise<void> {
  // a bad variable or an unknown home: reported by the start-up handler below, with its hint
  const config: ApiConfig = await readStartupConfig();
  const logger = createLogger(config.logLevel);
  const packsDir = config.packsDir ?? path.join(config.home, "packs");
  const installer = await openInstaller({
    home: config.home,
    databaseUrl: config.databaseUrl,
    packsDir,
    localSourceRoots: effectiveLocalSourceRoots(config, await readConfigFile(config.home)),
    reconcile: false, // below, with a log line: after a crash it can wait for a dead holder's lock
    // a write settles what earlier failed operations left (say, an uninstall's files on a disk that
    // was read-only then): say what it did, and what is still left
    onCleanup: (report) =>
      logger.warn(
        {
          interrupted: report.interrupted,
          unnamed: report.unnamed,
          failed: report.failed,
          trashRemoved: report.trashRemoved.length,
        },
        report.failed.length > 0
          ? "leftovers of earlier operations could not all be settled (the next write retries)"
          : "settled leftovers of earlier operations",
      ),
  });
  logger.info("checking the store for interrupted operations");
  const report = await installer.reconcile();
  if (report.interrupted.length + report.unnamed.length + report.failed.length > 0)
    logger.warn(
      { interrupted: report.interrupted, unnamed: report.unnamed, failed: report.failed },
      "repaired operations an unclean stop interrupted",
    );
  if (report.missingFiles.length + report.untracked.length > 0)
    logger.warn(
      { missingFiles: report.missingFiles, untracked: report.untracked },
      "the store has packs without files or files without a record (left as they are; see `attune pack verify`)",
    );
  // Tokens are read from the same database as the installer's records.
  const database = await openDatabase({ home: config.home, databaseUrl: config.databaseUrl });
  const running = await startServer(
    {
      installer,
      verifyToken: tokenVerifierFromRepository(repositories(database.db).tokens, {
        ttlMs: config.tokenCacheMs,
      }),
      logger,
      bodyLimit: config.bodyLimit,
      privatePaths: [config.home, packsDir],
    },
    { port: config.port, host: config.host, drainTimeoutMs: config.drainTimeoutMs },
  );
  logger.info({ url: running.url, provider: database.provider }, "attune api listening");

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, "second signal: exiting without waiting");
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, "shutting down");
    try {
      await running.close();
      await installer.close();
      await database.close();
      logger.info("stopped");
      process.exit(0);
    } catch (e) {
      logger.error({ err: e }, "shutdown failed");
      process.exit(1);
    }
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

main().catch((e: unknown) => {
  // Startup errors (bad environment, bad DATABASE_URL, unreachable database, busy port): clear lines, no stack.
  process.stderr.write(`${startupErrorLines(e).join("\n")}\n`);
  process.exit(1);
});
