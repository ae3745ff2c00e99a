import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { REPO_ROOT, baseEnv } from "./helpers";

export interface RunningApi {
  url: string;
  stop(): Promise<void>;
  logs(): string;
}

/** Start the real API (`apps/api/dist/main.js`) on a free port and wait for its "listening" line. */
export function startApi(env: Record<string, string>): Promise<RunningApi> {
  const child: ChildProcess = spawn(
    process.execPath,
    [path.join(REPO_ROOT, "apps", "api", "dist", "main.js")],
    {
      env: baseEnv({ PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", ...env }),
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`API did not start in 30 s:\n${out}`));
    }, 30_000);
    const onData = (d: Buffer) => {
      out += d.toString("utf8");
      for (const line of out.split("\n")) {
        if (!line.includes('"url"')) continue;
        try {
          const rec = JSON.parse(line) as { url?: string };
          if (!rec.url) continue;
          clearTimeout(timer);
          resolve({
            url: rec.url,
            logs: () => out,
            stop: () =>
              new Promise<void>((done) => {
                if (child.exitCode !== null) return done();
                child.once("exit", () => done());
                child.kill("SIGTERM");
              }),
          });
          return;
        } catch {
          // a partial line; wait for more
        }
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (d: Buffer) => (out += d.toString("utf8")));
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`API exited with ${code} before listening:\n${out}`));
    });
  });
}
