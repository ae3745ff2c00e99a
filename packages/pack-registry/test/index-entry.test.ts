import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import { afterAll, describe, expect, it } from "@jest/globals";
import * as tar from "tar";
import { tmpDir, writeTree } from "@attune/test-utils";
import { calculateDirectoryChecksum } from "@attune/pack-storage";
import { buildIndexEntry } from "../src/registry-index/index-entry";
import { mergeIndexEntry } from "../src/registry-index/merge";
import { parseIndex } from "../src/registry-index/schema";

async function rejection(
  p: Promise<unknown>,
): Promise<{ code?: string; details?: Record<string, unknown>; message: string }> {
  try {
    await p;
  } catch (e) {
    return e as { code: string; message: string };
  }
  throw new Error("expected a rejection");
}

const MANIFEST = `ref: demo
version: 1.2.0
name: Demo pack
description: Does demo things
author: Ann
license: MIT
keywords: [demo, test]
runtime_deps: [python3]
dependencies: [core, other@^2.0.0]
`;

describe("buildIndexEntry", () => {
  const root = tmpDir("attune-ie-");
  afterAll(() => root.cleanup());
  const pack = path.join(root.dir, "demo");
  writeTree(pack, {
    "pack.yaml": MANIFEST,
    "actions/b.yml": "x",
    "actions/a.yaml": "x",
    "actions/a.sh": "echo",
    "actions/workflows/flow.yaml": "x",
    "sensors/watch.yaml": "x",
    "rules/r1.yaml": "x",
  });

  it("builds a git entry with the pack root's directory checksum and its contents", async () => {
    const e = await buildIndexEntry(pack, { gitUrl: "https://git.example.com/demo.git", gitRef: "v1.2.0" });
    expect(e).toMatchObject({
      ref: "demo",
      version: "1.2.0",
      label: "Demo pack",
      description: "Does demo things",
      keywords: ["demo", "test"],
      runtime_deps: ["python3"],
      dependencies: ["core", "other@^2.0.0"],
      contents: { actions: ["a", "b"], sensors: ["watch"], triggers: [], rules: ["r1"], workflows: ["flow"] },
    });
    expect(e.install_sources).toEqual([
      {
        type: "git",
        url: "https://git.example.com/demo.git",
        ref: "v1.2.0",
        checksum: await calculateDirectoryChecksum(pack),
      },
    ]);
  });

  it("refuses a git URL with a #fragment (never installable) and writes the scheme in lower case", async () => {
    await expect(
      buildIndexEntry(pack, { gitUrl: "https://git.example.com/demo.git#v1.2.0", gitRef: "v1.2.0" }),
    ).rejects.toMatchObject({
      code: "EINVALID_INPUT",
      details: { field: "gitUrl" },
      message: expect.stringContaining("has a #fragment"),
    });
    await expect(
      buildIndexEntry(pack, { gitUrl: "https://git.example.com/demo.git?x=1", gitRef: "v1.2.0" }),
    ).rejects.toMatchObject({ code: "EINVALID_INPUT", message: expect.stringContaining("has a ?query") });
    const e = await buildIndexEntry(pack, { gitUrl: "HTTPS://git.example.com/Demo.git", gitRef: "v1.2.0" });
    expect(e.install_sources[0].url).toBe("https://git.example.com/Demo.git");
  });

  it("builds from an archive: archive bytes checksum, and the extracted root's directory checksum for git", async () => {
    const file = path.join(root.dir, "demo-1.2.0.tar.gz");
    await tar.c({ gzip: true, cwd: root.dir, file, portable: true }, ["demo"]);
    const bytes = `sha256:${createHash("sha256").update(fs.readFileSync(file)).digest("hex")}`;
    const e = await buildIndexEntry(file, {
      archiveUrl: "https://dl.example.com/demo-1.2.0.tar.gz",
      gitUrl: "https://g.example/d.git",
      gitRef: "v1.2.0",
    });
    expect(e.install_sources).toEqual([
      {
        type: "git",
        url: "https://g.example/d.git",
        ref: "v1.2.0",
        checksum: await calculateDirectoryChecksum(pack),
      },
      { type: "archive", url: "https://dl.example.com/demo-1.2.0.tar.gz", checksum: bytes },
    ]);
    const viaOpt = await buildIndexEntry(pack, {
      archiveUrl: "https://dl.example.com/demo.tgz",
      archiveFile: file,
    });
    expect(viaOpt.install_sources[0].checksum).toBe(bytes);
  });

  it.each([
    [{}, "gitUrl"],
    [{ gitUrl: "https://g.example/d.git" }, "gitRef"],
    [{ gitUrl: "https://g.example/d.git", gitRef: "--upload-pack=x" }, "gitRef"],
    [{ gitUrl: "https://user:pw@g.example/d.git", gitRef: "v1" }, "gitUrl"],
    [{ gitUrl: "ssh://g.example/d.git", gitRef: "v1" }, "gitUrl"],
    [{ archiveUrl: "https://dl.example.com/demo.tgz" }, "archiveFile"],
  ])("rejects bad options naming the field (%#)", async (opts, field) => {
    const e = await rejection(buildIndexEntry(pack, opts));
    expect(e.code).toBe("EINVALID_INPUT");
    expect(e.details?.field).toBe(field);
  });

  it("reports an invalid manifest and a missing path", async () => {
    const bad = path.join(root.dir, "bad");
    writeTree(bad, { "pack.yaml": "ref: Bad Ref\nversion: 1\n" });
    expect(
      (await rejection(buildIndexEntry(bad, { gitUrl: "https://g.example/d.git", gitRef: "v1" }))).code,
    ).toBe("EMANIFEST");
    expect(
      (
        await rejection(
          buildIndexEntry(path.join(root.dir, "nope"), { gitUrl: "https://g.example/d.git", gitRef: "v1" }),
        )
      ).code,
    ).toBe("ENOENT");
  });
});

describe("mergeIndexEntry", () => {
  const root = tmpDir("attune-merge-");
  afterAll(() => root.cleanup());
  const pack = path.join(root.dir, "demo");
  writeTree(pack, { "pack.yaml": MANIFEST });
  const file = path.join(root.dir, "index.json");
  const read = () => parseIndex(JSON.parse(fs.readFileSync(file, "utf8")));
  const now = () => new Date("2026-03-04T05:06:07.890Z");

  it("creates the index, adds versions, and replaces the same ref+version atomically", async () => {
    const e1 = await buildIndexEntry(pack, { gitUrl: "https://g.example/d.git", gitRef: "v1.2.0" });
    expect(
      await mergeIndexEntry(file, e1, { registryName: "Mine", registryUrl: "https://r.example", now }),
    ).toEqual({ replaced: false });
    expect(read()).toMatchObject({
      registry_name: "Mine",
      version: "1.0",
      last_updated: "2026-03-04T05:06:07Z",
    });
    await mergeIndexEntry(file, { ...e1, version: "1.10.0" });
    await mergeIndexEntry(file, { ...e1, version: "1.9.0" });
    expect(await mergeIndexEntry(file, { ...e1, description: "new words" })).toEqual({ replaced: true });
    const idx = read();
    expect(idx.packs.map((p) => p.version)).toEqual(["1.2.0", "1.9.0", "1.10.0"]);
    expect(idx.packs[0].description).toBe("new words");
    expect(idx.registry_name).toBe("Mine");
    expect(fs.readdirSync(root.dir).sort()).toEqual(["demo", "index.json"]);
  });

  it("refuses to overwrite a broken index or to add an invalid entry", async () => {
    const broken = path.join(root.dir, "broken.json");
    fs.writeFileSync(broken, '{"version":"2.0"}');
    const e1 = await buildIndexEntry(pack, { gitUrl: "https://g.example/d.git", gitRef: "v1.2.0" });
    expect((await rejection(mergeIndexEntry(broken, e1))).code).toBe("EINDEX");
    expect(fs.readFileSync(broken, "utf8")).toBe('{"version":"2.0"}');
    const bad = await rejection(mergeIndexEntry(file, { ...e1, version: "latest" }));
    expect(bad.code).toBe("EINDEX");
    expect(bad.details?.field).toBe("version");
  });
});
