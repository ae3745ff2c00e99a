import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { calculateDirectoryChecksum, calculateFileChecksum } from "@attune/pack-storage";
import {
  makeBareRepo,
  serveGit,
  serveRoutes,
  tmpDir,
  type RouteServer,
  type TestServer,
} from "@attune/test-utils";
import { makeTarGz, packFiles, writePack } from "./helpers/fixtures";
import { makeHarness, packDirs } from "./helpers/harness";

const actor = { identityId: null, name: "tester" };

let tmp: ReturnType<typeof tmpDir>;
let git: TestServer;
let http: RouteServer;
let shas: string[];
let v1Checksum: string;
let archiveChecksum: string;
let archDirChecksum: string;

beforeAll(async () => {
  tmp = tmpDir("attune-remote-");
  const repos = path.join(tmp.dir, "repos");
  fs.mkdirSync(repos);
  shas = makeBareRepo(repos, "gitpack", [
    { files: packFiles({ ref: "gitpack", version: "1.0.0" }), tag: "v1.0.0" },
    { files: packFiles({ ref: "gitpack", version: "2.0.0" }), tag: "v2.0.0" },
  ]);
  // tag v3.0.0 points at a commit whose pack.yaml still says 2.0.0
  makeBareRepo(repos, "mistagged", [
    { files: packFiles({ ref: "mistagged", version: "2.0.0" }), tag: "v2.0.0" },
    {
      files: { ...packFiles({ ref: "mistagged", version: "2.0.0" }), "README.md": "later\n" },
      tag: "v3.0.0",
    },
  ]);
  makeBareRepo(repos, "liar", [{ files: packFiles({ ref: "liar", version: "1.0.0" }), tag: "v1.0.0" }]);
  v1Checksum = await calculateDirectoryChecksum(
    writePack(path.join(tmp.dir, "v1"), { ref: "gitpack", version: "1.0.0" }),
  );
  git = await serveGit(repos);
  http = await serveRoutes();
  const arch = writePack(path.join(tmp.dir, "arch"), { ref: "archpack", version: "3.1.0" });
  const tgz = makeTarGz(arch, path.join(tmp.dir, "archpack.tgz"));
  archiveChecksum = await calculateFileChecksum(tgz);
  http.file("/archpack-3.1.0.tgz", fs.readFileSync(tgz), "application/gzip");
  // the same pack in git too: its registry checksum is the directory's, the archive's is of its bytes
  makeBareRepo(repos, "archpack", [
    { files: packFiles({ ref: "archpack", version: "3.1.0" }), tag: "v3.1.0" },
  ]);
  archDirChecksum = await calculateDirectoryChecksum(arch);
  // two builds of one version, tagged in git
  makeBareRepo(repos, "bm", [
    { files: packFiles({ ref: "bm", version: "1.0.0+b1" }), tag: "v1.0.0+b1" },
    { files: packFiles({ ref: "bm", version: "1.0.0+b2" }), tag: "v1.0.0+b2" },
  ]);
  const bmChecksum = async (version: string) =>
    calculateDirectoryChecksum(writePack(path.join(tmp.dir, `bm-${version}`), { ref: "bm", version }));
  const entry = (ref: string, version: string, install_sources: unknown[]) => ({
    ref,
    label: ref,
    description: "d",
    version,
    author: "A",
    license: "MIT",
    keywords: [],
    runtime_deps: [],
    install_sources,
    contents: { actions: [], sensors: [], triggers: [], rules: [], workflows: [] },
  });
  http.file(
    "/index.json",
    JSON.stringify({
      registry_name: "Test",
      registry_url: http.url,
      version: "1.0",
      last_updated: "2026-01-01T00:00:00Z",
      packs: [
        entry("gitpack", "1.0.0", [
          { type: "git", url: `${git.url}/gitpack.git`, ref: "v1.0.0", checksum: v1Checksum },
        ]),
        entry("archpack", "3.1.0", [
          { type: "archive", url: `${http.url}/archpack-3.1.0.tgz`, checksum: archiveChecksum },
        ]),
        entry("liar", "1.0.0", [
          { type: "git", url: `${git.url}/liar.git`, ref: "v1.0.0", checksum: `sha256:${"9".repeat(64)}` },
        ]),
        entry("gitpack", "9.9.9", [
          { type: "git", url: `${git.url}/gitpack.git`, ref: "v1.0.0", checksum: v1Checksum },
        ]),
        entry("badarch", "2.0.0", [
          { type: "archive", url: `${http.url}/archpack-3.1.0.tgz`, checksum: `sha256:${"8".repeat(64)}` },
        ]),
        entry("gone", "1.2.0", [
          { type: "archive", url: `${http.url}/no-such.tgz`, checksum: archiveChecksum },
        ]),
        entry("secretgone", "1.0.0", [
          { type: "archive", url: `${http.url}/no-such.tgz?token=TOKSECRET`, checksum: archiveChecksum },
        ]),
        entry("impostor", "1.0.0", [
          { type: "git", url: `${git.url}/gitpack.git`, ref: "v1.0.0", checksum: v1Checksum },
        ]),
      ],
    }),
    "application/json",
  );
  const index = (name: string, packs: unknown[]) =>
    JSON.stringify({
      registry_name: name,
      registry_url: http.url,
      version: "1.0",
      last_updated: "2026-01-01T00:00:00Z",
      packs,
    });
  const gitArch = { type: "git", url: `${git.url}/archpack.git`, ref: "v3.1.0", checksum: archDirChecksum };
  http.file(
    "/dual.json",
    index("dual", [
      entry("archpack", "3.1.0", [
        gitArch,
        { type: "archive", url: `${http.url}/archpack-3.1.0.tgz`, checksum: archiveChecksum },
      ]),
    ]),
    "application/json",
  );
  // the archive source is gone: a pin of its checksum can only be compared with git's pack
  http.file(
    "/dual-down.json",
    index("dualdown", [
      entry("archpack", "3.1.0", [
        gitArch,
        { type: "archive", url: `${http.url}/gone/archpack.tgz?token=PINSECRET`, checksum: archiveChecksum },
      ]),
    ]),
    "application/json",
  );
  // the index lists b1 first: "latest" must not depend on that order (semver ranks builds equal)
  const bm = async (version: string) => ({
    type: "git",
    url: `${git.url}/bm.git`,
    ref: `v${version}`,
    checksum: await bmChecksum(version),
  });
  http.file(
    "/builds.json",
    index("builds", [
      entry("bm", "1.0.0+b1", [await bm("1.0.0+b1")]),
      entry("bm", "1.0.0+b2", [await bm("1.0.0+b2")]),
    ]),
    "application/json",
  );
});
afterAll(async () => {
  await git.close();
  await http.close();
  tmp.cleanup();
});

describe("git and registry sources, end to end", () => {
  it("installs a git tag from a real git http-backend, recording the resolved commit", async () => {
    const h = await makeHarness("sqlite");
    try {
      const inst = await h.open();
      const r = await inst.install(
        { source: `${git.url}/gitpack.git`, refSpec: "v1.0.0", method: "cli" },
        actor,
      );
      expect(r.installation).toMatchObject({
        source_type: "git",
        source_ref: "v1.0.0",
        resolved_commit: shas[0],
        checksum: v1Checksum,
      });
      expect(fs.existsSync(path.join(r.installation.storage_path, ".git"))).toBe(false);
      const up = await inst.install(
        { source: `${git.url}/gitpack.git`, refSpec: "v2.0.0", method: "cli" },
        actor,
      );
      expect(up).toMatchObject({ action: "upgrade", installation: { resolved_commit: shas[1] } });
      expect(packDirs(h.packsDir)).toEqual(["gitpack-2.0.0"]);
    } finally {
      await h.cleanup();
    }
  });

  it("a git tag whose pack.yaml holds another version installs that version; a conflict names both", async () => {
    const h = await makeHarness("sqlite");
    try {
      const inst = await h.open();
      const source = `${git.url}/mistagged.git`;
      // a tag name need not match: not refused, the result records both
      const first = await inst.install({ source, refSpec: "v3.0.0", method: "cli" }, actor);
      expect(first).toMatchObject({
        pack: { version: "2.0.0" },
        installation: { source_ref: "v3.0.0", meta: { fetch: { refKind: "tag" } } },
      });
      const again = await inst.install({ source, refSpec: "v3.0.0", method: "cli" }, actor).then(
        () => null,
        (e: unknown) => e,
      );
      expect(again).toMatchObject({
        code: "ECONFLICT",
        message:
          "pack 'mistagged': git ref v3.0.0 holds version 2.0.0 (its pack.yaml), which is already installed",
        hint: "pass force (--force) to reinstall it",
      });
      // a ref that names the version keeps the short message
      const same = await inst.install({ source, refSpec: "v2.0.0", method: "cli" }, actor).then(
        () => null,
        (e: unknown) => e,
      );
      expect(same).toMatchObject({
        code: "ECONFLICT",
        message: "pack 'mistagged' version 2.0.0 is already installed",
      });
    } finally {
      await h.cleanup();
    }
  });

  it("installs from the registry index (git source) with the index checksum verified", async () => {
    const h = await makeHarness("sqlite", { ATTUNE_REGISTRIES: `test=${http.url}/index.json` });
    try {
      const inst = await h.open();
      // a version (range) no entry matches names the field it came from: the source, or refSpec
      await expect(inst.install({ source: "gitpack@~7.1", method: "api" }, actor)).rejects.toMatchObject({
        code: "ENOTFOUND",
        details: { field: "source" },
      });
      await expect(
        inst.install({ source: "gitpack", refSpec: "~7.1", method: "api" }, actor),
      ).rejects.toMatchObject({ code: "ENOTFOUND", details: { field: "refSpec" } });
      const r = await inst.install({ source: "gitpack@1.0.0", method: "api" }, actor);
      expect(r.installation).toMatchObject({
        checksum: v1Checksum,
        checksum_verified: true,
        resolved_commit: shas[0],
        meta: expect.objectContaining({ registry: "test", expected_checksum: v1Checksum }),
      });
    } finally {
      await h.cleanup();
    }
  });

  it("installs from the registry index (archive source)", async () => {
    const h = await makeHarness("sqlite", { ATTUNE_REGISTRIES: `test=${http.url}/index.json` });
    try {
      const inst = await h.open();
      const r = await inst.install({ source: "archpack", method: "api" }, actor);
      expect(r.pack.version).toBe("3.1.0");
      expect(r.installation).toMatchObject({ source_type: "registry", checksum_verified: true });
      expect(r.installation.meta).toMatchObject({
        registry: "test",
        archive_checksum: archiveChecksum,
        expected_checksum: archiveChecksum,
      });
      // the history keeps the registry too: the installation's meta goes with an uninstall
      await inst.uninstall("archpack", { actor, method: "api" });
      expect((await inst.history("archpack"))[0]).toMatchObject({
        action: "install",
        source_type: "registry",
        source_url: `${http.url}/archpack-3.1.0.tgz`,
        details: expect.objectContaining({ registry: "test", source_ref: null }),
      });
    } finally {
      await h.cleanup();
    }
  });

  it("records no secret of a URL: the source's ?token=, a presigned redirect, a failure's message", async () => {
    // a release link that redirects to a presigned URL (the usual way private downloads are served)
    http.route("/release/archpack.tgz", (_q, r) => {
      r.writeHead(302, { location: `${http.url}/archpack-3.1.0.tgz?X-Amz-Signature=SIGSECRET` });
      r.end();
    });
    const h = await makeHarness("sqlite", { ATTUNE_REGISTRIES: `test=${http.url}/index.json` });
    try {
      const inst = await h.open();
      const r = await inst.install(
        { source: `${http.url}/release/archpack.tgz?token=TOKSECRET`, method: "api" },
        actor,
      );
      expect(r.installation.source_url).toBe(`${http.url}/release/archpack.tgz?token=***`);
      // a failure whose message quotes the URL (a registry's download that answers 404)
      const failed = await inst
        .install({ source: "secretgone", method: "api" }, actor)
        .catch((e: Error) => e);
      expect(failed).toMatchObject({ code: "EFETCH" });
      expect((failed as Error).message).not.toContain("TOKSECRET");
      const recorded = JSON.stringify([
        await inst.show("archpack"),
        await inst.history("archpack"),
        await inst.history("secretgone"),
      ]);
      expect(recorded).not.toMatch(/TOKSECRET|SIGSECRET/);
      expect(recorded).toContain("X-Amz-Signature=***"); // the final URL, in the fetch details
      expect(recorded).toContain("no-such.tgz?token=***"); // the failure's message and URL
    } finally {
      await h.cleanup();
    }
  });

  it("a registry install that fails while fetching records from where: registry, URL, version", async () => {
    const h = await makeHarness("sqlite", { ATTUNE_REGISTRIES: `test=${http.url}/index.json` });
    try {
      const inst = await h.open();
      // the archive's bytes do not match the index's checksum
      await expect(inst.install({ source: "badarch", method: "cli" }, actor)).rejects.toMatchObject({
        code: "EINTEGRITY",
      });
      expect(await inst.history("badarch")).toEqual([
        expect.objectContaining({
          action: "failed",
          source_type: "registry",
          source_url: `${http.url}/archpack-3.1.0.tgz`,
          version: "2.0.0",
          method: "cli",
          details: expect.objectContaining({ registry: "test", requested_source: "badarch" }),
        }),
      ]);
      // every install source failed (the archive is not there)
      await expect(inst.install({ source: "gone@1.2.0", method: "api" }, actor)).rejects.toMatchObject({
        code: "EFETCH",
      });
      expect(await inst.history("gone")).toEqual([
        expect.objectContaining({
          action: "failed",
          source_type: "registry",
          source_url: `${http.url}/no-such.tgz`,
          version: "1.2.0",
          details: expect.objectContaining({ registry: "test", requested_source: "gone@1.2.0" }),
        }),
      ]);
      expect(packDirs(h.packsDir)).toEqual([]);
    } finally {
      await h.cleanup();
    }
  });

  it("refuses a registry pack whose content does not match the index (nothing installed)", async () => {
    const h = await makeHarness("sqlite", { ATTUNE_REGISTRIES: `test=${http.url}/index.json` });
    try {
      const inst = await h.open();
      const err = await inst.install({ source: "liar", method: "api" }, actor).catch((e) => e);
      expect(err).toMatchObject({ code: "EINTEGRITY", expected: `sha256:${"9".repeat(64)}` });
      expect(packDirs(h.packsDir)).toEqual([]);
      expect((await inst.history("liar"))[0]).toMatchObject({ action: "failed", outcome: "failure" });
      // an entry that delivers another pack than it names is refused too
      await expect(inst.install({ source: "impostor", method: "api" }, actor)).rejects.toMatchObject({
        code: "EMANIFEST",
        details: { field: "ref" },
      });
      expect(packDirs(h.packsDir)).toEqual([]);
      // and one that delivers another version than it promises
      await expect(inst.install({ source: "gitpack@9.9.9", method: "api" }, actor)).rejects.toMatchObject({
        code: "EMANIFEST",
        details: { field: "version" },
      });
      expect(packDirs(h.packsDir)).toEqual([]);
      // asked for without a version (latest = 9.9.9): the history names the entry's version and source
      await expect(inst.install({ source: "gitpack", method: "api" }, actor)).rejects.toMatchObject({
        code: "EMANIFEST",
      });
      expect((await inst.history("gitpack")).at(-1)).toMatchObject({
        action: "failed",
        version: "9.9.9",
        source_type: "registry",
        source_url: `${git.url}/gitpack.git`,
        details: expect.objectContaining({ registry: "test", requested_source: "gitpack" }),
      });
      expect((await inst.history("impostor")).at(-1)).toMatchObject({ action: "failed", version: "1.0.0" });
    } finally {
      await h.cleanup();
    }
  });

  it("a pinned checksum picks the entry's install source that publishes it (archive pin, git up)", async () => {
    const h = await makeHarness("sqlite", { ATTUNE_REGISTRIES: `dual=${http.url}/dual.json` });
    try {
      const inst = await h.open();
      // the archive's checksum: the archive source is tried first, though git comes first otherwise
      const byArchive = await inst.install(
        { source: "archpack", checksum: archiveChecksum, method: "api" },
        actor,
      );
      expect(byArchive.installation).toMatchObject({
        source_url: `${http.url}/archpack-3.1.0.tgz`,
        checksum: archDirChecksum,
        checksum_verified: true,
        meta: expect.objectContaining({
          expected_checksum: archiveChecksum,
          archive_checksum: archiveChecksum,
          fetch: expect.objectContaining({ installSource: "archive", failedAttempts: [] }),
        }),
      });
      // the directory checksum: git, as without a pin
      const byGit = await inst.install(
        { source: "archpack", checksum: archDirChecksum, force: true, method: "api" },
        actor,
      );
      expect(byGit.installation).toMatchObject({
        source_url: `${git.url}/archpack.git`,
        checksum_verified: true,
        meta: expect.objectContaining({ fetch: expect.objectContaining({ installSource: "git" }) }),
      });
      // a pin no source publishes: the usual order (git), and the mismatch names the source and kind
      const wrong = `sha256:${"7".repeat(64)}`;
      const e = await inst
        .install({ source: "archpack", checksum: wrong, force: true, method: "api" }, actor)
        .catch((x: unknown) => x);
      expect(e).toMatchObject({
        code: "EINTEGRITY",
        message: `checksum mismatch: expected ${wrong}, found directory checksum ${archDirChecksum} (of the pack), from registry "dual"'s git source ${git.url}/archpack.git`,
        hint: "the fetched pack is not the one the checksum names: a git source is compared by its directory checksum (an archive's checksum matches only an archive source); nothing was installed",
        details: expect.objectContaining({
          field: "checksum",
          checksumKind: "directory",
          installSource: "git",
          url: `${git.url}/archpack.git`,
          registry: "dual",
        }),
      });
    } finally {
      await h.cleanup();
    }
  });

  it("a pin of an archive checksum whose archive is down: EINTEGRITY naming the git source used and the failed archive", async () => {
    const h = await makeHarness("sqlite", { ATTUNE_REGISTRIES: `dualdown=${http.url}/dual-down.json` });
    try {
      const inst = await h.open();
      const e = (await inst
        .install({ source: "archpack", checksum: archiveChecksum, method: "api" }, actor)
        .catch((x: unknown) => x)) as { code: string; message: string; details: Record<string, unknown> };
      expect(e.code).toBe("EINTEGRITY");
      expect(e.message).toBe(
        `checksum mismatch: expected ${archiveChecksum}, found directory checksum ${archDirChecksum} (of the pack), from registry "dualdown"'s git source ${git.url}/archpack.git; tried before it and failed: archive ${http.url}/gone/archpack.tgz?token=*** (EFETCH)`,
      );
      expect(e.details).toMatchObject({ installSource: "git", checksumKind: "directory" });
      expect(JSON.stringify([e.message, e.details, await inst.history("archpack")])).not.toContain(
        "PINSECRET",
      );
      expect(packDirs(h.packsDir)).toEqual([]);
    } finally {
      await h.cleanup();
    }
  });

  it("a registry archive whose bytes differ from the index: names the registry and URL, not the request's checksum field", async () => {
    const h = await makeHarness("sqlite", { ATTUNE_REGISTRIES: `test=${http.url}/index.json` });
    try {
      const inst = await h.open();
      const e = (await inst
        .install({ source: "badarch", method: "api" }, actor)
        .catch((x: unknown) => x)) as {
        code: string;
        message: string;
        hint: string;
        details: Record<string, unknown>;
      };
      const url = `${http.url}/archpack-3.1.0.tgz`;
      expect(e).toMatchObject({
        code: "EINTEGRITY",
        message: `checksum mismatch: expected sha256:${"8".repeat(64)}, found archive checksum ${archiveChecksum} (of the bytes downloaded from ${url})`,
        hint: `the archive does not match the checksum its registry (test) publishes for ${url}; do not trust it`,
      });
      expect(e.details).toMatchObject({
        field: "registry checksum",
        checksumKind: "archive",
        registry: "test",
        installSource: "archive",
        url,
      });
    } finally {
      await h.cleanup();
    }
  });

  it("latest of builds of one version is the highest build, in the installer's order (never a downgrade)", async () => {
    const h = await makeHarness("sqlite", { ATTUNE_REGISTRIES: `builds=${http.url}/builds.json` });
    try {
      const inst = await h.open();
      expect((await inst.install({ source: "bm@1.0.0+b2", method: "api" }, actor)).action).toBe("install");
      // latest is 1.0.0+b2, installed already: a conflict, not a "downgrade" to 1.0.0+b1
      await expect(inst.install({ source: "bm", method: "api" }, actor)).rejects.toMatchObject({
        code: "ECONFLICT",
        message: "pack 'bm' version 1.0.0+b2 is already installed",
      });
      await expect(inst.install({ source: "bm@^1", method: "api" }, actor)).rejects.toMatchObject({
        code: "ECONFLICT",
      });
      const down = await inst.install({ source: "bm@1.0.0+b1", method: "api" }, actor);
      expect(down).toMatchObject({ action: "downgrade", previousVersion: "1.0.0+b2" });
      const up = await inst.install({ source: "bm", method: "api" }, actor);
      expect(up).toMatchObject({ action: "upgrade", previousVersion: "1.0.0+b1" });
      expect(up.pack.version).toBe("1.0.0+b2");
    } finally {
      await h.cleanup();
    }
  });
});
