import { spawn, spawnSync } from "node:child_process";
import path from "node:path";
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { tmpDir } from "@attune/test-utils";
import { startApi, type RunningApi } from "./api-server";
import { BIN, REPO_ROOT, baseEnv, json, runCli } from "./helpers";

// `script` (util-linux) runs the CLI on a pseudo-terminal, so stdout and stderr are TTYs.
const hasScript = spawnSync("script", ["--version"]).status === 0;
const example = path.join(REPO_ROOT, "examples", "packs", "hello-world");

function onTty(args: string, env: Record<string, string> = {}): string {
  const r = spawnSync("script", ["-qec", `${process.execPath} ${BIN} ${args}`, "/dev/null"], {
    env: baseEnv({ TERM: "xterm", ...env }),
    encoding: "utf8",
  });
  expect(r.status).toBe(0);
  return r.stdout;
}

(hasScript ? describe : describe.skip)("on a terminal", () => {
  it("draws progress on stderr, in colour, and defaults to a table", () => {
    const out = onTty(`pack checksum ${example}`);
    expect(out).toContain("\r\x1b[K");
    expect(out).toContain("\x1b[36m");
    expect(out).toMatch(/hash/);
    expect(out).toMatch(/^sha256:\s+[0-9a-f]{64}\r?$/m);
  });

  it("NO_COLOR keeps the spinner but drops colours; --quiet draws nothing", () => {
    const plain = onTty(`pack checksum ${example}`, { NO_COLOR: "1" });
    expect(plain).toContain("\r\x1b[K");
    expect(plain).not.toContain("\x1b[36m");
    const quiet = onTty(`pack checksum ${example} --quiet`);
    expect(quiet).not.toContain("\x1b[");
    expect(quiet).toMatch(/^checksum:\s+sha256:[0-9a-f]{64}\r?$/m);
  });
});

/** Run on a pseudo-terminal and type `answer` once the confirmation prompt is shown. */
function answerPrompt(
  args: string,
  answer: string,
  env: Record<string, string>,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("script", ["-qec", `${process.execPath} ${BIN} ${args}`, "/dev/null"], {
      env: baseEnv({ TERM: "xterm", ...env }),
    });
    let out = "";
    let typed = false;
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      if (!typed && out.includes("[y/N]")) {
        typed = true;
        // a keystroke (Ctrl-C, Ctrl-D) is sent as it is; an answer is a line
        child.stdin.write(/^[\x00-\x1f]$/.test(answer) ? answer : `${answer}\n`);
      }
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out }));
  });
}

(hasScript ? describe : describe.skip)("uninstall confirmation on a terminal", () => {
  const t = tmpDir("attune-cli-confirm-");
  const env = { ATTUNE_HOME: t.dir };
  afterAll(() => t.cleanup());

  it("answering no keeps the pack (exit 1), yes removes it", async () => {
    expect((await runCli(["pack", "install", example, "-q"], { env: baseEnv(env) })).code).toBe(0);
    const no = await answerPrompt("pack uninstall hello_world", "n", env);
    expect(no.code).toBe(1);
    expect(no.out).toContain("Remove pack hello_world (every version)? [y/N]");
    expect(no.out).toContain("attune: ECANCELLED: uninstall cancelled");
    expect((await runCli(["pack", "show", "hello_world"], { env: baseEnv(env) })).code).toBe(0);
    const yes = await answerPrompt("pack uninstall hello_world", "y", env);
    expect(yes.code).toBe(0);
    expect(yes.out).toContain("Removed hello_world");
    expect((await runCli(["pack", "show", "hello_world"], { env: baseEnv(env) })).code).toBe(1);
  });

  it("a pack that is not installed is said so before any question", async () => {
    const r = await answerPrompt("pack uninstall nothere_pack", "y", env);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/attune: ENOTFOUND: .*nothere_pack/);
    expect(r.out).not.toContain("[y/N]");
  });

  it("a version that is not installed is said so before any question, as with --yes", async () => {
    expect((await runCli(["pack", "install", example, "-q"], { env: baseEnv(env) })).code).toBe(0);
    const r = await answerPrompt("pack uninstall hello_world --version 9.9.9", "y", env);
    const yes = await runCli(["pack", "uninstall", "hello_world", "--version", "9.9.9", "--yes"], {
      env: baseEnv(env),
    });
    expect(yes.code).toBe(1);
    expect(yes.stderr).toMatch(/^attune: ENOTFOUND: pack 'hello_world' version 9\.9\.9 is not installed\n/);
    expect(r.code).toBe(yes.code);
    expect(r.out).toContain(yes.stderr.split("\n")[0]);
    expect(r.out).not.toContain("[y/N]");
    // the installed version is still asked about
    const no = await answerPrompt("pack uninstall hello_world --version 1.0.0", "n", env);
    expect(no.code).toBe(1);
    expect(no.out).toContain("Remove pack hello_world 1.0.0? [y/N]");
    expect((await runCli(["pack", "show", "hello_world"], { env: baseEnv(env) })).code).toBe(0);
    expect((await runCli(["pack", "uninstall", "hello_world", "--yes"], { env: baseEnv(env) })).code).toBe(0);
  });

  it("a malformed --version is refused before anything else, as with --yes (exit 2)", async () => {
    const yes = await runCli(["pack", "uninstall", "nothere_pack", "--version", "bad!", "--yes"], {
      env: baseEnv(env),
    });
    expect(yes.code).toBe(2);
    expect(yes.stderr).toMatch(
      /^attune: EINVALID_VERSION: version "bad!" is not a strict semantic version\n/,
    );
    // on a pack that is not installed, and on one that is
    expect((await runCli(["pack", "install", example, "-q"], { env: baseEnv(env) })).code).toBe(0);
    for (const ref of ["nothere_pack", "hello_world"]) {
      const r = await answerPrompt(`pack uninstall ${ref} --version 'bad!'`, "y", env);
      expect({ ref, code: r.code }).toEqual({ ref, code: 2 });
      expect(r.out).toContain(yes.stderr.split("\n")[0]);
      expect(r.out).not.toContain("[y/N]");
    }
    expect((await runCli(["pack", "uninstall", "hello_world", "--yes"], { env: baseEnv(env) })).code).toBe(0);
  });

  it("Ctrl-C at the prompt cancels (exit 130), Ctrl-D answers no (exit 1); neither is a bug report", async () => {
    expect((await runCli(["pack", "install", example, "-q"], { env: baseEnv(env) })).code).toBe(0);
    const c = await answerPrompt("pack uninstall hello_world", "\x03", env);
    expect(c.code).toBe(130);
    expect(c.out).toContain("attune: EINTERRUPTED: uninstall cancelled (Ctrl-C)");
    const d = await answerPrompt("pack uninstall hello_world", "\x04", env);
    expect(d.code).toBe(1);
    expect(d.out).toContain("attune: ECANCELLED: uninstall cancelled");
    for (const out of [c.out, d.out]) expect(out).not.toContain("EUNEXPECTED");
    expect((await runCli(["pack", "show", "hello_world"], { env: baseEnv(env) })).code).toBe(0);
  });
});

(hasScript ? describe : describe.skip)("uninstall confirmation on a terminal, in remote mode", () => {
  const t = tmpDir("attune-cli-confirm-remote-");
  const serverHome = path.join(t.dir, "server");
  let api: RunningApi;
  let env: Record<string, string>;

  beforeAll(async () => {
    const local = baseEnv({ ATTUNE_HOME: serverHome });
    const created = await runCli(["token", "create", "--name", "tty", "-o", "json"], { env: local });
    expect(created.code).toBe(0);
    api = await startApi({ ATTUNE_HOME: serverHome, ATTUNE_LOCAL_SOURCE_ROOTS: REPO_ROOT });
    env = {
      ATTUNE_HOME: path.join(t.dir, "client"),
      ATTUNE_API_URL: api.url,
      ATTUNE_TOKEN: json<{ token: string }>(created).token,
    };
  });
  afterAll(async () => {
    await api?.stop();
    t.cleanup();
  });

  it("a version on the server's disk but not recorded is asked about (the API decides), as --yes removes it", async () => {
    expect((await runCli(["pack", "install", example, "-q"], { env: baseEnv(env) })).code).toBe(0);
    // files of another version, left on the server's disk without a record
    const untracked = path.join(serverHome, "packs", "hello_world-0.9.0");
    fs.cpSync(example, untracked, { recursive: true });
    const no = await answerPrompt("pack uninstall hello_world --version 0.9.0", "n", env);
    expect(no.code).toBe(1);
    expect(no.out).toContain("Remove pack hello_world 0.9.0? [y/N]");
    expect(no.out).not.toContain("ENOTFOUND");
    expect(fs.existsSync(untracked)).toBe(true);
    const yes = await answerPrompt("pack uninstall hello_world --version 0.9.0", "y", env);
    expect(yes.code).toBe(0);
    expect(yes.out).toContain("Removed hello_world");
    expect(fs.existsSync(untracked)).toBe(false);
    // the recorded version is untouched; a malformed version is still refused before the question
    expect((await runCli(["pack", "show", "hello_world"], { env: baseEnv(env) })).code).toBe(0);
    const bad = await answerPrompt("pack uninstall hello_world --version 'bad!'", "y", env);
    expect(bad.code).toBe(2);
    expect(bad.out).toMatch(/attune: EINVALID_VERSION: /);
    expect(bad.out).not.toContain("[y/N]");
  });
});
