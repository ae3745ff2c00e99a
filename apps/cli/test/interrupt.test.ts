// Ctrl-C (SIGINT) during a local install: the install stops, cleans up, and the CLI says so.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "@jest/globals";
import { tmpDir } from "@attune/test-utils";
import { makePack } from "./fixtures";
import { BIN, baseEnv, json, runCli } from "./helpers";

const tmp = tmpDir("attune-cli-int-");
afterAll(() => tmp.cleanup());

describe("Ctrl-C during a local install", () => {
  it("stops it: exit 130, a message, nothing installed and nothing left in staging", async () => {
    const home = path.join(tmp.dir, "home");
    const env = baseEnv({ ATTUNE_HOME: home });
    const files: Record<string, string> = {};
    for (let i = 0; i < 6000; i++) files[`data/${i % 60}/f${i}.txt`] = `file ${i}\n`.repeat(20);
    const src = makePack(path.join(tmp.dir, "big-src"), "interrupted_pack", "1.0.0", files);
    expect((await runCli(["pack", "list", "-o", "json"], { env })).code).toBe(0); // creates the store

    const child = spawn(process.execPath, [BIN, "pack", "install", src, "-q"], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    // as soon as the copy into staging has begun
    const staging = path.join(home, "packs", ".staging");
    for (let i = 0; i < 1000 && !(fs.existsSync(staging) && fs.readdirSync(staging).length > 0); i++)
      await new Promise((r) => setTimeout(r, 5));
    child.kill("SIGINT");
    const code = await exited;

    expect(code).toBe(130);
    expect(stderr).toMatch(/^attune: interrupted: stopping and cleaning up/m);
    expect(stderr).toMatch(
      /^attune: EINTERRUPTED: the install was stopped \(Ctrl-C\); nothing was installed$/m,
    );
    expect(fs.readdirSync(staging)).toEqual([]);
    expect(json<unknown[]>(await runCli(["pack", "list", "-o", "json"], { env }))).toEqual([]);
    expect(fs.readdirSync(path.join(home, "packs")).filter((n) => !n.startsWith("."))).toEqual([]);
  }, 120_000);
});
