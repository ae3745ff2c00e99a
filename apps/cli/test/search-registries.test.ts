import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { serveRoutes, tmpDir, type RouteServer } from "@attune/test-utils";
import { baseEnv, json, runCli } from "./helpers";

// `pack search` with nothing to search: the empty list must not read as "no such pack"
describe("pack search without a registry to search", () => {
  const t = tmpDir("attune-cli-search-none-");
  let api: RouteServer;
  beforeAll(async () => {
    // a stand-in API: its search lists the registries it searched (none), or says nothing of them
    api = await serveRoutes();
    api.file("/api/v1/registries/search", JSON.stringify({ data: [], registries: [] }), "application/json");
    api.file("/old/api/v1/registries/search", JSON.stringify({ data: [] }), "application/json");
  });
  afterAll(async () => {
    await api?.close();
    t.cleanup();
  });
  const home = (name: string, config?: string) => {
    const h = path.join(t.dir, name);
    fs.mkdirSync(h, { recursive: true });
    if (config !== undefined) fs.writeFileSync(path.join(h, "config.yaml"), config);
    return baseEnv({ ATTUNE_HOME: h });
  };

  it("none configured: stdout is the empty list as before, stderr warns, exit 0; -q keeps quiet", async () => {
    const env = home("none");
    for (const format of ["json", "table"]) {
      const r = await runCli(["pack", "search", "demo", "-o", format], { env });
      expect({ code: r.code, stderr: r.stderr }).toEqual({
        code: 0,
        stderr:
          "attune: warning: no registry is configured, so none was searched; add one with `attune registry add <name> <url>` or ATTUNE_REGISTRIES\n",
      });
      expect(r.stdout).toBe(format === "json" ? "[]\n" : "No packs found.\n");
    }
    const quiet = await runCli(["pack", "search", "demo", "-q"], { env });
    expect({ code: quiet.code, stderr: quiet.stderr }).toEqual({ code: 0, stderr: "" });
    expect(json(quiet)).toEqual([]);
  });

  it("every one disabled: said so, since none was searched either", async () => {
    const env = home(
      "disabled",
      "registries:\n  - name: off\n    url: https://r.example.com/index.json\n    enabled: false\n",
    );
    const r = await runCli(["pack", "search", "demo"], { env });
    expect(r.code).toBe(0);
    expect(json(r)).toEqual([]);
    expect(r.stderr).toBe(
      "attune: warning: every configured registry is disabled (enabled: false in config.yaml), so none was searched; `attune registry list` shows them\n",
    );
  });

  it("remote mode: an API that searched no registry is said to have none; one that does not list them, nothing", async () => {
    const env = home("remote");
    const none = await runCli(["pack", "search", "demo", "--api-url", api.url, "--token", "att_x"], { env });
    expect({ code: none.code, stdout: none.stdout, stderr: none.stderr }).toEqual({
      code: 0,
      stdout: "[]\n",
      stderr:
        "attune: warning: the API server has no registry configured, so none was searched; add one there (its config.yaml or ATTUNE_REGISTRIES)\n",
    });
    const old = await runCli(["pack", "search", "demo", "--api-url", `${api.url}/old`, "--token", "att_x"], {
      env,
    });
    expect({ code: old.code, stdout: old.stdout, stderr: old.stderr }).toEqual({
      code: 0,
      stdout: "[]\n",
      stderr: "",
    });
  });
});
