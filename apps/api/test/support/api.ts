import fs from "node:fs";
import path from "node:path";
import type { Express } from "express";
import { pino, type Logger } from "pino";
import { openDatabase, repositories, type TokenScope } from "@attune/db";
import { openInstaller } from "@attune/installer";
import { tmpDir } from "@attune/test-utils";
import { createServer, tokenVerifierFromRepository } from "../../src/index";

export const ALL_SCOPES: TokenScope[] = ["packs:read", "packs:install", "packs:delete"];

/** Outbound policy for tests: the fixture servers are plain http on 127.0.0.1. */
export const LOOPBACK_ENV = {
  ATTUNE_ALLOW_HTTP: "true",
  ATTUNE_ALLOWED_PRIVATE_HOSTS: "127.0.0.1,localhost",
};

export interface TestApi {
  app: Express;
  root: string;
  home: string;
  packsDir: string;
  installer: Awaited<ReturnType<typeof openInstaller>>;
  repos: ReturnType<typeof repositories>;
  /** bearer secrets: all scopes, and one token per single scope */
  tokens: { all: string; read: string; install: string; delete: string };
  identityId: number;
  auth(token?: string): { Authorization: string };
  close(): Promise<void>;
}

/**
 * A real API over a real installer and a real SQLite store in a fresh temp home (or `databaseUrl`).
 * Only the logger differs from production: silent unless one is passed.
 */
export async function openTestApi(
  opts: {
    localSourceRoots?: string[];
    env?: Record<string, string>;
    logger?: Logger;
    databaseUrl?: string;
    /** how long an install waits for another one of the same ref (the installer's default: 5 min) */
    lockTimeoutMs?: number;
  } = {},
): Promise<TestApi> {
  const tmp = tmpDir("attune-api-");
  const home = path.join(tmp.dir, "home");
  const packsDir = path.join(home, "packs");
  fs.mkdirSync(home, { recursive: true });
  const env = { ...LOOPBACK_ENV, ...opts.env };
  const installer = await openInstaller({
    home,
    packsDir,
    databaseUrl: opts.databaseUrl,
    env,
    localSourceRoots: opts.localSourceRoots ?? [],
    lockTimeoutMs: opts.lockTimeoutMs,
  });
  const database = await openDatabase({ home, databaseUrl: opts.databaseUrl });
  const repos = repositories(database.db);
  const admin = await repos.tokens.create({ name: "admin", scopes: ALL_SCOPES });
  const mk = async (name: string, scope: TokenScope) =>
    (await repos.tokens.create({ name, scopes: [scope] })).secret;
  const tokens = {
    all: admin.secret,
    read: await mk("reader", "packs:read"),
    install: await mk("installer", "packs:install"),
    delete: await mk("deleter", "packs:delete"),
  };
  const app = createServer({
    installer: installer,
    verifyToken: tokenVerifierFromRepository(repos.tokens),
    logger: opts.logger ?? pino({ level: "silent" }),
    privatePaths: [home, packsDir],
  });
  return {
    app,
    root: tmp.dir,
    home,
    packsDir,
    installer,
    repos,
    tokens,
    identityId: admin.row.identityId as number,
    auth: (token = tokens.all) => ({ Authorization: `Bearer ${token}` }),
    close: async () => {
      await installer.close();
      await database.close();
      tmp.cleanup();
    },
  };
}
