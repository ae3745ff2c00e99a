import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import * as tar from "tar";
import { git, serveGit, tmpDir, writeTree, type GitTestServer } from "@attune/test-utils";
import { calculateDirectoryChecksum } from "@attune/pack-storage";
import { findPackRoot } from "../src/manifest";
import { OutboundPolicy } from "../src/policy/outbound-policy";
import { RegistryClient } from "../src/registry-index/client";
import { buildIndexEntry } from "../src/registry-index/index-entry";
import { gitSource } from "../src/sources/git";
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

  it("refuses an archiveFile beside a directory that holds another version or other files of the pack", async () => {
    const other = path.join(root.dir, "other");
    fs.cpSync(pack, other, { recursive: true });
    const yaml = fs.readFileSync(path.join(pack, "pack.yaml"), "utf8");
    fs.writeFileSync(path.join(other, "pack.yaml"), yaml.replace(/^version: .*$/m, "version: 9.9.9"));
    const newer = path.join(root.dir, "demo-9.9.9.tgz");
    await tar.c({ gzip: true, cwd: other, file: newer, portable: true }, ["."]);
    fs.writeFileSync(path.join(other, "pack.yaml"), yaml);
    fs.writeFileSync(path.join(other, "stale.txt"), "not in the directory published");
    const stale = path.join(root.dir, "demo-stale.tgz");
    await tar.c({ gzip: true, cwd: other, file: stale, portable: true }, ["."]);
    for (const [archiveFile, message] of [
      [newer, /^archiveFile: .*demo-9\.9\.9\.tgz holds demo 9\.9\.9, not demo 1\.2\.0$/],
      [
        stale,
        /^archiveFile: .*demo-stale\.tgz holds other files than demo 1\.2\.0 here \(directory checksum sha256:/,
      ],
    ] as const) {
      const e = await rejection(
        buildIndexEntry(pack, { archiveUrl: "https://dl.example.com/d.tgz", archiveFile }),
      );
      expect({ code: e.code, field: e.details?.field }).toEqual({
        code: "EINVALID_INPUT",
        field: "archiveFile",
      });
      expect(e.message).toMatch(message);
    }
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

  it("refuses an archiveFile that is no archive (by its name and its first bytes), naming the option", async () => {
    const file = path.join(root.dir, "demo-ok.tgz");
    await tar.c({ gzip: true, cwd: root.dir, file, portable: true }, ["demo"]);
    const text = path.join(root.dir, "README.md");
    fs.writeFileSync(text, "# not an archive\n");
    const fake = path.join(root.dir, "fake.tar.gz");
    fs.writeFileSync(fake, "# not an archive either\n");
    const mislabelled = path.join(root.dir, "demo-ok.zip");
    fs.copyFileSync(file, mislabelled);
    for (const [archiveFile, message] of [
      [text, "archiveFile: README.md is not a .tar.gz, .tgz, .tar or .zip archive"],
      [
        fake,
        "archiveFile: fake.tar.gz is not a tar.gz archive: its first bytes match no gzip, zip or tar header",
      ],
      [mislabelled, "archiveFile: demo-ok.zip is named like a zip archive but its bytes are tar.gz"],
      [root.dir, `archiveFile: ${root.dir} is not a regular file`],
    ]) {
      const e = await rejection(
        buildIndexEntry(pack, { archiveUrl: "https://dl.example.com/d.tgz", archiveFile }),
      );
      expect({ code: e.code, field: e.details?.field, message: e.message }).toEqual({
        code: "EINVALID_INPUT",
        field: "archiveFile",
        message,
      });
    }
    const missing = await rejection(
      buildIndexEntry(pack, {
        archiveUrl: "https://dl.example.com/d.tgz",
        archiveFile: path.join(root.dir, "nope.tgz"),
      }),
    );
    expect({ code: missing.code, field: missing.details?.field, message: missing.message }).toEqual({
      code: "ENOENT",
      field: "archiveFile",
      message: `archiveFile: cannot read ${path.join(root.dir, "nope.tgz")}: no such file or directory`,
    });
    // the URL's name promises a type the install checks the bytes against
    const e = await rejection(
      buildIndexEntry(pack, { archiveUrl: "https://dl.example.com/d.zip", archiveFile: file }),
    );
    expect({ code: e.code, field: e.details?.field }).toEqual({
      code: "EINVALID_INPUT",
      field: "archiveUrl",
    });
    expect(e.message).toBe(
      'archiveUrl: "https://dl.example.com/d.zip" names a zip archive, but demo-ok.tgz is tar.gz',
    );
    // so does it when the pack's path is the archive, and its path must decode as the installer decodes it
    for (const [archiveUrl, message] of [
      [
        "https://dl.example.com/d.tar",
        'archiveUrl: "https://dl.example.com/d.tar" names a tar archive, but demo-ok.tgz is tar.gz',
      ],
      [
        "https://dl.example.com/d%zz.tgz",
        'archiveUrl: "https://dl.example.com/d%zz.tgz" holds malformed percent-encoding in its path',
      ],
    ]) {
      const fromPath = await rejection(buildIndexEntry(file, { archiveUrl }));
      expect({ code: fromPath.code, field: fromPath.details?.field, message: fromPath.message }).toEqual({
        code: "EINVALID_INPUT",
        field: "archiveUrl",
        message,
      });
    }
    // a URL without an archive name is fine: the bytes decide at install
    const ok = await buildIndexEntry(pack, {
      archiveUrl: "https://dl.example.com/download?id=7",
      archiveFile: file,
    });
    expect(ok.install_sources[0].type).toBe("archive");
  });

  it("refuses a URL with white space as the option's, not as an index problem", async () => {
    for (const [opts, field] of [
      [{ gitUrl: "https://g.example/a b.git", gitRef: "v1" }, "gitUrl"],
      [{ gitUrl: "https://g.example/a\tb.git", gitRef: "v1" }, "gitUrl"],
      [{ gitUrl: " https://g.example/ab.git", gitRef: "v1" }, "gitUrl"],
      [{ gitUrl: "https:g.example/ab.git", gitRef: "v1" }, "gitUrl"],
      [
        { archiveUrl: "https://dl.example.com/a b.tgz", archiveFile: path.join(root.dir, "nope.tgz") },
        "archiveUrl",
      ],
    ] as const) {
      const e = await rejection(buildIndexEntry(pack, opts));
      expect({ opts, code: e.code, field: e.details?.field }).toEqual({
        opts,
        code: "EINVALID_INPUT",
        field,
      });
    }
  });

  it("names a definition file without a name (actions/.yaml) as the pack's problem", async () => {
    const odd = path.join(root.dir, "odd");
    writeTree(odd, { "pack.yaml": MANIFEST, "actions/.yaml": "x", "actions/workflows/.yml": "x" });
    const e = await rejection(buildIndexEntry(odd, { gitUrl: "https://g.example/d.git", gitRef: "v1" }));
    expect({ code: e.code, message: e.message }).toEqual({
      code: "EMANIFEST",
      message: `${path.join(odd, "actions", ".yaml")}: the action has an empty name (the index lists each by its file name, without .yaml)`,
    });
    expect((e as { hint?: string }).hint).toBe("rename it to <name>.yaml, or remove it from the pack");
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

  it("sorts builds of one version by their build metadata, whatever order they were added in", async () => {
    const builds = path.join(root.dir, "builds.json");
    const e1 = await buildIndexEntry(pack, { gitUrl: "https://g.example/d.git", gitRef: "v1.2.0" });
    for (const version of ["1.2.0+b2", "1.2.0", "1.2.0+b10", "1.2.0+b1"])
      await mergeIndexEntry(builds, { ...e1, version });
    const idx = parseIndex(JSON.parse(fs.readFileSync(builds, "utf8")));
    expect(idx.packs.map((p) => p.version)).toEqual(["1.2.0", "1.2.0+b1", "1.2.0+b10", "1.2.0+b2"]);
    fs.rmSync(builds);
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

describe("buildIndexEntry of a pack in a git work tree: the commit at gitRef, as a clone checks it out", () => {
  const root = tmpDir("attune-ie-git-");
  const repos = path.join(root.dir, "repos");
  const work = path.join(root.dir, "work");
  let server: GitTestServer;
  let url: string;
  let first: string;
  const policy = new OutboundPolicy({ allowHttp: true, allowedPrivateHosts: ["127.0.0.1"] });
  const ctx = { policy, registries: new RegistryClient({ registries: [], policy }) };
  let n = 0;
  /** the checksum the installer verifies: of the pack root of a real clone of `ref` */
  const installed = async (ref: string) => {
    const stage = path.join(root.dir, `stage-${n++}`);
    fs.mkdirSync(stage);
    await gitSource(url, ref).fetch(stage, ctx);
    return calculateDirectoryChecksum(await findPackRoot(stage));
  };

  beforeAll(async () => {
    fs.mkdirSync(repos);
    git(root.dir, "init", "-q", "-b", "main", work);
    writeTree(work, {
      "pack.yaml": "ref: wt\nversion: 1.0.0\n",
      "actions/a.yaml": "one",
      ".gitignore": "node_modules/\n",
    });
    git(work, "add", "-A");
    git(work, "commit", "-q", "-m", "1.0.0");
    git(work, "tag", "-a", "v1.0.0", "-m", "v1.0.0");
    first = git(work, "rev-parse", "HEAD");
    writeTree(work, { "pack.yaml": "ref: wt\nversion: 1.1.0\n", "actions/b.yaml": "two" });
    git(work, "add", "-A");
    git(work, "commit", "-q", "-m", "1.1.0");
    git(root.dir, "clone", "-q", "--bare", work, path.join(repos, "wt.git"));
    // what the work tree holds besides: files git does not track, one it ignores, an uncommitted edit
    writeTree(work, {
      ".DS_Store": "finder",
      "node_modules/x.js": "ignored",
      "actions/a.yaml": "edited, not committed",
      "actions/c.yaml": "untracked",
    });
    server = await serveGit(repos);
    url = `${server.url}/wt.git`;
  });
  afterAll(async () => {
    await server.close();
    root.cleanup();
  });

  it.each([
    ["v1.0.0", "1.0.0", ["a"]],
    ["main", "1.1.0", ["a", "b"]],
    ["refs/tags/v1.0.0", "1.0.0", ["a"]],
  ])(
    "builds the entry of %s from its commit: version %s, and the checksum a clone verifies",
    async (ref, version, actions) => {
      const e = await buildIndexEntry(work, { gitUrl: url, gitRef: ref });
      expect(e).toMatchObject({ ref: "wt", version, contents: { actions } });
      expect(e.install_sources).toEqual([{ type: "git", url, ref, checksum: await installed(ref) }]);
      // not the work tree's
      expect(e.install_sources[0].checksum).not.toBe(await calculateDirectoryChecksum(work));
    },
  );

  it("publishes HEAD as the very commit checked out (a clone of HEAD takes the remote's default branch)", async () => {
    const head = git(work, "rev-parse", "HEAD");
    const e = await buildIndexEntry(work, { gitUrl: url, gitRef: "HEAD" });
    expect(e.version).toBe("1.1.0");
    expect(e.install_sources).toEqual([{ type: "git", url, ref: head, checksum: await installed(head) }]);
    // outside a git work tree HEAD names nothing fixed: refused, with the way on
    const plain = path.join(root.dir, "plain-head");
    writeTree(plain, { "pack.yaml": "ref: plain\nversion: 1.0.0\n" });
    await expect(buildIndexEntry(plain, { gitUrl: url, gitRef: "HEAD" })).rejects.toMatchObject({
      code: "EINVALID_INPUT",
      details: { field: "gitRef" },
      hint: "give the tag (or the commit SHA) of the commit to publish",
    });
  });

  it("takes a full commit SHA, and a subdirectory of the work tree that is the pack root", async () => {
    const e = await buildIndexEntry(work, { gitUrl: url, gitRef: first });
    expect(e.version).toBe("1.0.0");
    expect(e.install_sources[0].checksum).toBe(await installed("v1.0.0"));
    // a pack in pack/ of another repository: that directory or the top give the same entry
    const other = path.join(root.dir, "nested");
    git(root.dir, "init", "-q", "-b", "main", other);
    writeTree(other, { "pack/pack.yaml": "ref: nested\nversion: 2.0.0\n", "README.md": "x" });
    git(other, "add", "-A");
    git(other, "commit", "-q", "-m", "c");
    git(other, "tag", "v2");
    const fromPack = await buildIndexEntry(path.join(other, "pack"), { gitUrl: url, gitRef: "v2" });
    const fromTop = await buildIndexEntry(other, { gitUrl: url, gitRef: "v2" });
    expect(fromPack).toEqual(fromTop);
    expect(fromPack.install_sources[0].checksum).toBe(
      await calculateDirectoryChecksum(path.join(other, "pack")),
    );
  });

  it("reads a linked worktree's repository (its .git is a file)", async () => {
    const linked = path.join(root.dir, "linked");
    git(work, "worktree", "add", "-q", "--detach", linked, "v1.0.0");
    const e = await buildIndexEntry(linked, { gitUrl: url, gitRef: "main" });
    expect(e.version).toBe("1.1.0");
    expect(e.install_sources[0].checksum).toBe(await installed("main"));
  });

  it("refuses a ref the local repository does not have, hinting to tag or fetch it", async () => {
    const e = (await rejection(buildIndexEntry(work, { gitUrl: url, gitRef: "v9.9.9" }))) as {
      code?: string;
      message: string;
      hint?: string;
      details?: Record<string, unknown>;
    };
    expect(e.code).toBe("ENOTFOUND");
    expect(e.details).toMatchObject({ field: "gitRef", ref: "v9.9.9" });
    expect(e.message).toContain('gitRef: "v9.9.9" is not in the git repository of');
    expect(e.hint).toMatch(/git tag v9\.9\.9.*git fetch origin v9\.9\.9/);
    const sha = await rejection(buildIndexEntry(work, { gitUrl: url, gitRef: "b".repeat(40) }));
    expect(sha).toMatchObject({ code: "ENOTFOUND", details: { field: "gitRef" } });
    // an abbreviated SHA: the hint says to give all 40 digits, not to tag a commit by that name
    const short = git(work, "rev-parse", "--short", "v1.0.0");
    expect(await rejection(buildIndexEntry(work, { gitUrl: url, gitRef: short }))).toMatchObject({
      code: "ENOTFOUND",
      hint: expect.stringMatching(
        new RegExp(`^if ${short} is an abbreviated commit SHA, give all 40 hex digits`),
      ),
    });
    git(work, "tag", "treetag", "v1.0.0^{tree}");
    const tree = await rejection(buildIndexEntry(work, { gitUrl: url, gitRef: "treetag" }));
    expect(tree).toMatchObject({ code: "EINVALID_INPUT", details: { field: "gitRef" } });
    expect(tree.message).toContain("names a tree");
  });

  it("refuses a commit whose tree an install would refuse, as the install would", async () => {
    const clash = path.join(root.dir, "clash");
    git(root.dir, "init", "-q", "-b", "main", clash);
    writeTree(clash, { "pack.yaml": "ref: clash\nversion: 1.0.0\n", "README.md": "a", "readme.md": "b" });
    git(clash, "add", "-A");
    git(clash, "commit", "-q", "-m", "c");
    const e = (await rejection(buildIndexEntry(clash, { gitUrl: url, gitRef: "main" }))) as {
      code?: string;
      hint?: string;
      details?: Record<string, unknown>;
    };
    expect(e).toMatchObject({ code: "EUNSAFE_ARCHIVE", details: { entry: "readme.md", ref: "main" } });
    expect(e.hint).toMatch(/fix the repository/);
  });

  it("refuses a directory that is not the pack root a clone finds", async () => {
    const e = await rejection(buildIndexEntry(path.join(work, "actions"), { gitUrl: url, gitRef: "v1.0.0" }));
    expect(e).toMatchObject({ code: "EINVALID_INPUT", details: { field: "path" } });
    expect(e.message).toContain("the pack root is the repository's top");
  });

  it("refuses a pack deeper in a repository at once, before files elsewhere in the tree are checked", async () => {
    const mono = path.join(root.dir, "mono");
    git(root.dir, "init", "-q", "-b", "main", mono);
    writeTree(mono, {
      "packs/one/pack.yaml": "ref: one\nversion: 1.0.0\n",
      "packs/two/pack.yaml": "ref: two\nversion: 1.0.0\n",
      "tools/README.md": "x",
    });
    // a link elsewhere in the repository: an install of the whole tree would refuse it first
    fs.symlinkSync("README.md", path.join(mono, "tools", "link"));
    git(mono, "add", "-A");
    git(mono, "commit", "-q", "-m", "c");
    const deep = (await rejection(
      buildIndexEntry(path.join(mono, "packs", "one"), { gitUrl: url, gitRef: "main" }),
    )) as { code?: string; message: string; hint?: string; details?: Record<string, unknown> };
    expect(deep).toMatchObject({ code: "EINVALID_INPUT", details: { field: "path" } });
    expect(deep.message).toContain("it is packs/one/ in the repository");
    expect(deep.hint).toMatch(/publish a pack deeper in a repository as an archive/);
    // a direct subdirectory that is one of several packs: said of the directory given, not EMANIFEST
    const flat = path.join(root.dir, "flat");
    git(root.dir, "init", "-q", "-b", "main", flat);
    writeTree(flat, { "a/pack.yaml": "ref: a\nversion: 1.0.0\n", "b/pack.yaml": "ref: b\nversion: 1.0.0\n" });
    git(flat, "add", "-A");
    git(flat, "commit", "-q", "-m", "c");
    const several = await rejection(buildIndexEntry(path.join(flat, "a"), { gitUrl: url, gitRef: "main" }));
    expect(several).toMatchObject({ code: "EINVALID_INPUT", details: { field: "path" } });
    expect(several.message).toMatch(
      /a clone finds no single pack root in its tree \(pack\.yaml found in several subdirectories: a, b\)/,
    );
  });

  it("keeps reading a directory git does not track (below an unrelated repository) as it is", async () => {
    const loose = path.join(work, "node_modules", "loose");
    writeTree(loose, { "pack.yaml": "ref: loose\nversion: 3.0.0\n" });
    const e = await buildIndexEntry(loose, { gitUrl: url, gitRef: "v9.9.9" });
    expect(e.version).toBe("3.0.0");
    expect(e.install_sources[0].checksum).toBe(await calculateDirectoryChecksum(loose));
  });
});
