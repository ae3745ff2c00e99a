import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import * as tar from "tar";
import { AttuneError } from "@attune/pack-storage";
import { tmpDir, writeTree } from "@attune/test-utils";
import { DEFAULT_EXTRACT_LIMITS, limitsFromConfig } from "../src/extract/limits";
import { DEFAULT_MAX_DOWNLOAD_BYTES, OutboundPolicy } from "../src/policy/outbound-policy";
import { readPackSettings } from "../src/config/pack-settings";
import { localArchiveSource } from "../src/sources/local-archive";
import { localDirectorySource } from "../src/sources/local-directory";
import type { FetchContext } from "../src/sources/types";

function thrown(fn: () => unknown): AttuneError {
  try {
    fn();
  } catch (e) {
    return e as AttuneError;
  }
  throw new Error("expected a throw");
}

describe("limitsFromConfig", () => {
  it("is empty (the defaults apply) when neither the environment nor config.yaml sets a cap", () => {
    expect(limitsFromConfig({}, {})).toEqual({});
  });

  it("reads config.yaml keys, and the environment wins over them", () => {
    const cfg = { max_file_bytes: 1000, max_pack_bytes: 5000, max_pack_files: 7 };
    expect(limitsFromConfig(cfg, {})).toEqual({ maxEntryBytes: 1000, maxTotalBytes: 5000, maxEntries: 7 });
    expect(
      limitsFromConfig(cfg, {
        ATTUNE_MAX_FILE_BYTES: "2000",
        ATTUNE_MAX_PACK_FILES: " 9 ",
        ATTUNE_MAX_PACK_BYTES: "",
      }),
    ).toEqual({ maxEntryBytes: 2000, maxTotalBytes: 5000, maxEntries: 9 });
  });

  it.each([
    [{ ATTUNE_MAX_FILE_BYTES: "1e9" }, {}, "ATTUNE_MAX_FILE_BYTES"],
    [{ ATTUNE_MAX_PACK_BYTES: "-5" }, {}, "ATTUNE_MAX_PACK_BYTES"],
    [{ ATTUNE_MAX_PACK_FILES: "0" }, {}, "ATTUNE_MAX_PACK_FILES"],
    [{}, { max_file_bytes: "lots" }, "max_file_bytes"],
    [{}, { max_pack_files: 1.5 }, "max_pack_files"],
  ])("refuses %j %j with ECONFIG naming %s and a valid example", (env, cfg, field) => {
    const e = thrown(() => limitsFromConfig(cfg, env));
    expect(e.code).toBe("ECONFIG");
    expect(e.details).toEqual({ field });
    expect(e.message).toContain(field);
    expect(e.hint).toMatch(/^e\.g\. /);
  });
});

describe("every bad setting at once", () => {
  it("limitsFromConfig names each bad cap, from the environment and config.yaml alike", () => {
    const e = thrown(() =>
      limitsFromConfig(
        { max_pack_files: 1.5 },
        { ATTUNE_MAX_FILE_BYTES: "1e9", ATTUNE_MAX_PACK_BYTES: "-5" },
      ),
    );
    expect(e.code).toBe("ECONFIG");
    const problems = e.details?.problems as Array<{ field: string; message: string; hint: string }>;
    expect(problems.map((p) => p.field)).toEqual([
      "ATTUNE_MAX_FILE_BYTES",
      "ATTUNE_MAX_PACK_BYTES",
      "max_pack_files",
    ]);
    for (const p of problems) {
      expect(p.message).toContain(p.field);
      expect(p.hint).toMatch(/^e\.g\. /);
      expect(e.message).toContain(p.message);
    }
  });

  it("OutboundPolicy.fromConfig names each bad variable", () => {
    const e = thrown(() =>
      OutboundPolicy.fromConfig(
        {},
        {
          ATTUNE_ALLOW_HTTP: "maybe",
          ATTUNE_ALLOWED_PRIVATE_HOSTS: "10.0.0.0/8",
          ATTUNE_MAX_DOWNLOAD_BYTES: "1GB",
        },
      ),
    );
    expect(e.code).toBe("ECONFIG");
    expect((e.details?.problems as Array<{ field: string }>).map((p) => p.field)).toEqual([
      "ATTUNE_ALLOW_HTTP",
      "ATTUNE_ALLOWED_PRIVATE_HOSTS",
      "ATTUNE_MAX_DOWNLOAD_BYTES",
    ]);
    expect(e.message).toMatch(/^ATTUNE_ALLOW_HTTP must be true or false, got "maybe"; /);
  });
});

describe("readPackSettings", () => {
  it("reads the policy, ATTUNE_REGISTRIES and the caps, the environment over config.yaml", () => {
    const s = readPackSettings(
      { allow_http: false, max_pack_files: 7 },
      { ATTUNE_ALLOW_HTTP: "yes", ATTUNE_REGISTRIES: "main=https://r.example/index.json" },
    );
    expect(s.policy.allowHttp).toBe(true);
    expect(s.envRegistries?.map((r) => r.name)).toEqual(["main"]);
    expect(s.limits).toEqual({ maxEntries: 7 });
    expect(readPackSettings({}, {}).envRegistries).toBeUndefined();
  });

  it("names every bad setting of all three at once", () => {
    const e = thrown(() =>
      readPackSettings(
        {},
        {
          ATTUNE_ALLOW_HTTP: "maybe",
          ATTUNE_MAX_DOWNLOAD_BYTES: "x",
          ATTUNE_REGISTRIES: "=",
          ATTUNE_MAX_PACK_FILES: "0",
        },
      ),
    );
    expect(e.code).toBe("ECONFIG");
    expect((e.details?.problems as Array<{ field: string }>).map((p) => p.field)).toEqual([
      "ATTUNE_ALLOW_HTTP",
      "ATTUNE_MAX_DOWNLOAD_BYTES",
      "ATTUNE_REGISTRIES",
      "ATTUNE_MAX_PACK_FILES",
    ]);
  });
});

describe("OutboundPolicy.fromConfig download cap", () => {
  it("defaults, reads max_download_bytes, and lets ATTUNE_MAX_DOWNLOAD_BYTES win", () => {
    expect(OutboundPolicy.fromConfig({}, {}).maxDownloadBytes).toBe(DEFAULT_MAX_DOWNLOAD_BYTES);
    expect(OutboundPolicy.fromConfig({ max_download_bytes: 1234 }, {}).maxDownloadBytes).toBe(1234);
    expect(
      OutboundPolicy.fromConfig({ max_download_bytes: 1234 }, { ATTUNE_MAX_DOWNLOAD_BYTES: "99" })
        .maxDownloadBytes,
    ).toBe(99);
    const e = thrown(() => OutboundPolicy.fromConfig({}, { ATTUNE_MAX_DOWNLOAD_BYTES: "1GB" }));
    expect(e.code).toBe("ECONFIG");
    expect(e.details).toEqual({ field: "ATTUNE_MAX_DOWNLOAD_BYTES" });
  });
});

describe("caps from the fetch context reach the local sources", () => {
  let work: ReturnType<typeof tmpDir>;
  let src: string;
  let staging: string;
  beforeEach(() => {
    work = tmpDir("attune-limits-");
    src = join(work.dir, "src");
    staging = join(work.dir, "staging");
    mkdirSync(staging, { mode: 0o700 });
    writeTree(src, { "pack.yaml": "ref: capped\nversion: 1.0.0\n", "assets/blob.bin": "x".repeat(300) });
  });
  afterEach(() => work.cleanup());
  const ctx = (limits: FetchContext["limits"]) => ({ limits }) as FetchContext;

  it("a directory copy is refused past ctx.limits.maxEntryBytes, naming the file, and staging stays empty", async () => {
    const err = await localDirectorySource(src)
      .fetch(staging, ctx({ maxEntryBytes: 200 }))
      .catch((e: AttuneError) => e);
    expect(err).toMatchObject({ code: "ETOO_LARGE" });
    expect(JSON.stringify((err as AttuneError).details)).toContain("assets/blob.bin");
    expect(readdirSync(staging)).toEqual([]);
    // the same tree passes under the default caps
    await localDirectorySource(src).fetch(staging, ctx(undefined));
    expect(readdirSync(staging).sort()).toEqual(["assets", "pack.yaml"]);
  });

  it("an archive is refused past ctx.limits.maxTotalBytes and ctx.limits.maxEntries", async () => {
    const archive = join(work.dir, "p.tar.gz");
    await tar.create({ gzip: true, file: archive, cwd: src, portable: true }, ["pack.yaml", "assets"]);
    for (const limits of [{ maxTotalBytes: 320 }, { maxEntries: 2 }]) {
      const err = await localArchiveSource(archive)
        .fetch(staging, ctx(limits))
        .catch((e: AttuneError) => e);
      expect(err).toMatchObject({ code: "ETOO_LARGE" });
      expect(readdirSync(staging)).toEqual([]);
    }
    const ok = await localArchiveSource(archive).fetch(
      staging,
      ctx({ maxTotalBytes: DEFAULT_EXTRACT_LIMITS.maxTotalBytes }),
    );
    expect(ok.sourceType).toBe("local_archive");
  });
});
