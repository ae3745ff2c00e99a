import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { serveGit, tmpDir, type TestServer } from "@attune/test-utils";
import { LOOPBACK_ENV } from "./support/api";
import { makePackRepo } from "./support/fixtures";
import { createToken, spawnApi, type ApiProcess } from "./support/process";

const DOC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../docs/api.md");
const MARKER = "<!-- docs-test: curl-example";

/** The first ```bash block after the marker comment in docs/api.md, verbatim. */
export function exampleBlock(markdown: string): string {
  const at = markdown.indexOf(MARKER);
  if (at < 0) throw new Error(`docs/api.md lost its ${MARKER} marker`);
  const m = /```bash\n([\s\S]*?)```/.exec(markdown.slice(at));
  if (!m) throw new Error("no ```bash block after the marker");
  return m[1];
}

const tmp = tmpDir("attune-api-docs-");
let git: TestServer;
let api: ApiProcess;
let token: string;

beforeAll(async () => {
  makePackRepo(path.join(tmp.dir, "git"), "example", "example");
  git = await serveGit(path.join(tmp.dir, "git"));
  const home = path.join(tmp.dir, "home");
  token = (await createToken(home, undefined, ["packs:read", "packs:install"])).secret;
  api = await spawnApi({ ATTUNE_HOME: home, ...LOOPBACK_ENV });
});
afterAll(async () => {
  await api?.stop();
  await git?.close();
  tmp.cleanup();
});

describe("docs/api.md curl example", () => {
  it("runs verbatim with bash against a real server and does what the text says", async () => {
    const script = exampleBlock(fs.readFileSync(DOC, "utf8"));
    expect(script).toContain("curl");
    const { stdout } = await promisify(execFile)("bash", ["-euo", "pipefail", "-c", script], {
      env: {
        PATH: process.env.PATH,
        ATTUNE_API_URL: api.url,
        ATTUNE_TOKEN: token,
        PACK_SOURCE: `${git.url}/example.git`,
      },
    });
    const [installed, listed] = stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(installed.data.pack).toMatchObject({ ref: "example", version: "1.0.0" });
    expect(installed.data.installation).toMatchObject({ source_type: "git", source_ref: "v1.0.0" });
    expect(listed.pagination).toEqual({ page: 1, page_size: 20, total_items: 1, total_pages: 1 });
    expect(listed.data[0].pack.ref).toBe("example");
  });

  it("fails loudly (curl --fail-with-body) when the token is wrong", async () => {
    const script = exampleBlock(fs.readFileSync(DOC, "utf8"));
    await expect(
      promisify(execFile)("bash", ["-euo", "pipefail", "-c", script], {
        env: { PATH: process.env.PATH, ATTUNE_API_URL: api.url, ATTUNE_TOKEN: "wrong", PACK_SOURCE: "x" },
      }),
    ).rejects.toMatchObject({ code: 22 });
  });
});
