// Ctrl-C (SIGINT) during a local install: the install stops, cleans up, and the CLI says so.
import { execFileSync, spawn } from "node:child_process";
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

  it("SIGTERM stops it the same way, exit 143, and the private copy of a zip is removed too", async () => {
    const home = path.join(tmp.dir, "home-term");
    const tmpdir = path.join(tmp.dir, "tmpdir-term");
    fs.mkdirSync(tmpdir);
    const env = baseEnv({ ATTUNE_HOME: home, TMPDIR: tmpdir });
    const files: Record<string, string> = {};
    for (let i = 0; i < 6000; i++) files[`data/${i % 60}/f${i}.txt`] = `file ${i}\n`.repeat(20);
    const src = makePack(path.join(tmp.dir, "zip-src"), "terminated_pack", "1.0.0", files);
    const zip = path.join(tmp.dir, "terminated.zip");
    execFileSync("python3", [
      "-c",
      "import os,sys,zipfile\nwith zipfile.ZipFile(sys.argv[2],'w') as z:\n for d,_,fs in os.walk(sys.argv[1]):\n  for f in fs:\n   p=os.path.join(d,f); z.write(p,os.path.relpath(p,sys.argv[1]))",
      src,
      zip,
    ]);
    expect((await runCli(["pack", "list", "-o", "json"], { env })).code).toBe(0);

    const child = spawn(process.execPath, [BIN, "pack", "install", zip, "-q"], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    // as soon as the private copy of the archive exists (a SIGTERM then left it for good)
    for (let i = 0; i < 2000 && fs.readdirSync(tmpdir).length === 0; i++)
      await new Promise((r) => setTimeout(r, 2));
    child.kill("SIGTERM");
    const code = await exited;

    expect(code).toBe(143);
    expect(stderr).toMatch(/^attune: terminated \(SIGTERM\): stopping and cleaning up/m);
    expect(stderr).toMatch(
      /^attune: EINTERRUPTED: the install was stopped \(SIGTERM\); nothing was installed$/m,
    );
    expect(fs.readdirSync(tmpdir)).toEqual([]);
    expect(fs.readdirSync(path.join(home, "packs", ".staging"))).toEqual([]);
    expect(json<unknown[]>(await runCli(["pack", "list", "-o", "json"], { env }))).toEqual([]);
  }, 120_000);
});
