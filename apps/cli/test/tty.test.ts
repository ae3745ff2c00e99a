import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "@jest/globals";
import { BIN, REPO_ROOT, baseEnv } from "./helpers";

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
