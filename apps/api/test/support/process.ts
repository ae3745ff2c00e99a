import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { openDatabase, repositories, type TokenScope } from "@attune/db";

export const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../dist/main.js");

export interface ApiProcess {
  url: string;
  proc: ChildProcess;
  /** stdout JSON log records so far */
  logs: Array<Record<string, unknown>>;
  stderr: () => string;
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

/** Start the built entry point (`pnpm api`) with `env`; resolves once it logs its URL. */
export async function spawnApi(env: Record<string, string>): Promise<ApiProcess> {
  const proc = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: "0", HOST: "127.0.0.1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: Array<Record<string, unknown>> = [];
  let err = "";
  proc.stderr!.on("data", (c) => (err += String(c)));
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  const url = await new Promise<string>((resolve, reject) => {
    let buf = "";
    proc.stdout!.on("data", (chunk) => {
      buf += String(chunk);
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          const rec = JSON.parse(line) as Record<string, unknown>;
          logs.push(rec);
          if (typeof rec.url === "string" && rec.msg === "attune api listening") resolve(rec.url);
        } catch {
          // not a log line
        }
      }
    });
    void exited.then((code) => reject(new Error(`api exited with ${code} before listening: ${err}`)));
  });
  return {
    url,
    proc,
    logs,
    stderr: () => err,
    exited,
    stop: async () => {
      if (proc.exitCode === null) proc.kill("SIGTERM");
      return exited;
    },
  };
}

/** Create a token directly in the store the API process will use (what `attune token create` does). */
export async function createToken(
  home: string,
  databaseUrl?: string,
  scopes: TokenScope[] = ["packs:read", "packs:install", "packs:delete"],
) {
  const database = await openDatabase({ home, databaseUrl, migrate: true });
  try {
    return await repositories(database.db).tokens.create({
      name: `t-${Math.random().toString(36).slice(2)}`,
      scopes,
    });
  } finally {
    await database.close();
  }
}
