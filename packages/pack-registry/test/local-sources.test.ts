import { execFileSync } from "node:child_process";
import {
  chmodSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import * as tar from "tar";
import yazl from "yazl";
import { createWriteStream } from "node:fs";
import {
  AttuneError,
  ErrorCodes,
  calculateDirectoryChecksum,
  calculateDirectoryManifest,
  calculateFileChecksum,
} from "@attune/pack-storage";
import { tmpDir, writeTree } from "@attune/test-utils";
import { KEPT_BYTES, KeptContents, PROCESS_KEPT_BYTES } from "../src/extract/kept";
import { assertOpenedInside, localArchiveSource, snapshot } from "../src/sources/local-archive";
import { asSourceError, localDirectorySource } from "../src/sources/local-directory";
import type { FetchContext } from "../src/sources/types";

let work: ReturnType<typeof tmpDir>;
let src: string;
let staging: string;
beforeEach(() => {
  work = tmpDir("attune-local-");
  src = join(work.dir, "src");
  staging = join(work.dir, "staging");
  mkdirSync(staging, { mode: 0o700 });
  writeTree(src, {
    "pack.yaml": "ref: local_pack\nversion: 1.0.0\n",
    "actions/run.sh": "#!/bin/sh\necho hi\n",
    ".hidden": "dot",
    "lib/nested/.git/HEAD": "a nested repository's files are left out too",
    "lib/nested/.git/config": "[core]\n\tfsmonitor = touch /tmp/pwned\n",
    ".git/HEAD": "ref: refs/heads/main\n",
  });
  chmodSync(join(src, "actions/run.sh"), 0o755);
});
afterEach(() => work.cleanup());

// Local sources never touch the network policy or the registries; only these fields matter.
function ctx(extra: Partial<FetchContext> = {}): FetchContext {
  return { ...extra } as FetchContext;
}

function list(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).sort();
}

describe("localDirectorySource", () => {
  it("copies regular files and directories, keeps the executable bit and leaves out .git at any depth", async () => {
    const progress: number[] = [];
    const result = await localDirectorySource(src).fetch(
      staging,
      ctx({ onProgress: (p) => progress.push(p.files ?? 0) }),
    );
    expect(result).toMatchObject({
      sourceType: "local_directory",
      sourceUrl: src,
      sourceRef: null,
      resolvedCommit: null,
      archiveChecksum: null,
      expectedChecksum: null,
      registryName: null,
    });
    expect(list(staging)).toEqual([".hidden", "actions", "actions/run.sh", "lib", "lib/nested", "pack.yaml"]);
    expect(statSync(join(staging, "actions/run.sh")).mode & 0o777).toBe(0o755);
    expect(statSync(join(staging, "pack.yaml")).mode & 0o777).toBe(0o644);
    expect(statSync(staging).mode & 0o777).toBe(0o700); // the staging dir's own mode is kept
    expect(await calculateDirectoryChecksum(staging)).toBe(await calculateDirectoryChecksum(src));
    expect(progress).toEqual([1, 3]); // the first file, then every 64 files and the last
  });

  it("hashes the copy while writing it: the staged pack root's checksum and manifest, as read back", async () => {
    const layouts: Array<[string, Record<string, string>, string]> = [
      [
        "at the top",
        { "pack.yaml": "ref: a\n", "a/x": "1", "a-b": "2", "é/f": "3", "\uE000": "4", "😀": "5" },
        "",
      ],
      ["in pack/", { "pack/pack.yaml": "ref: b\n", "pack/actions/a.py": "x", README: "outside" }, "pack"],
      [
        "in the one subdirectory",
        { "repo-1a2b/pack.yaml": "ref: c\n", "repo-1a2b/lib/.git/HEAD": "x" },
        "repo-1a2b",
      ],
    ];
    for (const [what, files, root] of layouts) {
      const from = join(work.dir, `layout-${root || "top"}`);
      const into = join(work.dir, `staged-${root || "top"}`);
      writeTree(from, files);
      const result = await localDirectorySource(from).fetch(into, ctx());
      const onDisk = await calculateDirectoryManifest(join(into, root));
      expect({ what, ...result.treeHash }).toEqual({ what, root, ...onDisk });
    }
  });

  it("drops setuid, sticky and world-writable bits", async () => {
    chmodSync(join(src, "actions/run.sh"), 0o4777);
    chmodSync(join(src, ".hidden"), 0o666);
    await localDirectorySource(src).fetch(staging, ctx());
    expect(statSync(join(staging, "actions/run.sh")).mode & 0o7777).toBe(0o755);
    expect(statSync(join(staging, ".hidden")).mode & 0o7777).toBe(0o644);
  });

  it("refuses a symbolic link anywhere, naming it, and leaves staging empty", async () => {
    symlinkSync("../pack.yaml", join(src, "lib", "link.yaml"));
    const attempt = localDirectorySource(src).fetch(staging, ctx());
    await expect(attempt).rejects.toMatchObject({ code: "ESYMLINK", details: { entry: "lib/link.yaml" } });
    await expect(attempt).rejects.toThrow(/lib\/link\.yaml is a symbolic link/);
    expect(readdirSync(staging)).toEqual([]);
    expect(readdirSync(work.dir).sort()).toEqual(["src", "staging"]);
  });

  it("refuses a FIFO, naming it", async () => {
    execFileSync("mkfifo", [join(src, "actions", "pipe")]);
    await expect(localDirectorySource(src).fetch(staging, ctx())).rejects.toMatchObject({
      code: "ESPECIAL_FILE",
      details: { entry: "actions/pipe" },
    });
    expect(readdirSync(staging)).toEqual([]);
  });

  it("refuses a file name that is not valid UTF-8", async () => {
    writeFileSync(
      Buffer.concat([
        Buffer.from(join(src, "lib") + "/bad-"),
        Buffer.from([0xff, 0xfe]),
        Buffer.from(".txt"),
      ]),
      "x",
    );
    // named with its bytes escaped (as `pack checksum` names it), never as U+FFFD
    await expect(localDirectorySource(src).fetch(staging, ctx())).rejects.toMatchObject({
      code: "EBAD_FILENAME",
      message: "lib/bad-\\xff\\xfe.txt has a file name that is not valid UTF-8",
      details: {
        entry: "lib/bad-\\xff\\xfe.txt",
        nameHex: Buffer.from("bad-\xff\xfe.txt", "latin1").toString("hex"),
      },
    });
    expect(readdirSync(staging)).toEqual([]);
  });

  it("applies the local source roots on the real path", async () => {
    await expect(
      localDirectorySource(src).fetch(staging, ctx({ localSourceRoots: [] })),
    ).rejects.toMatchObject({ code: "EPOLICY" });
    await expect(
      localDirectorySource(src).fetch(staging, ctx({ localSourceRoots: [join(work.dir, "elsewhere")] })),
    ).rejects.toMatchObject({ code: "EPOLICY", details: { field: "source" } });
    // a link inside an allowed root that points outside it does not get through
    const allowed = join(work.dir, "allowed");
    mkdirSync(allowed);
    symlinkSync(src, join(allowed, "sneaky"));
    await expect(
      localDirectorySource(join(allowed, "sneaky")).fetch(staging, ctx({ localSourceRoots: [allowed] })),
    ).rejects.toMatchObject({
      code: "EPOLICY",
    });
    const ok = await localDirectorySource(src).fetch(staging, ctx({ localSourceRoots: [work.dir] }));
    expect(ok.sourceType).toBe("local_directory");
  });

  it.each([10, 1_200])(
    "under local source roots refuses a hard link (%i files: on the main thread and the helper's)",
    async (files) => {
      // a hard link made inside a root to a file outside it would copy that file (the API's roots
      // are its only boundary); without roots (the CLI) a hard link is an ordinary file
      const outside = join(work.dir, "outside");
      mkdirSync(outside);
      writeFileSync(join(outside, "secret.txt"), "TOP SECRET\n");
      for (let i = 0; i < files; i++)
        writeFileSync(join(src, `f${String(i).padStart(4, "0")}.txt`), `${i}\n`);
      linkSync(join(outside, "secret.txt"), join(src, "zz-leak.txt"));
      const root = join(work.dir, "root");
      mkdirSync(root);
      renameSync(src, join(root, "pack"));
      await expect(
        localDirectorySource(join(root, "pack")).fetch(staging, ctx({ localSourceRoots: [root] })),
      ).rejects.toMatchObject({
        code: "EPOLICY",
        message: expect.stringMatching(/^zz-leak\.txt is a hard link \(the file has 2 names\)/),
        details: { entry: "zz-leak.txt", rule: "hard-link" },
      });
      expect(readdirSync(staging)).toEqual([]);
      const copied = await localDirectorySource(join(root, "pack")).fetch(staging, ctx());
      expect(copied.sourceType).toBe("local_directory");
      expect(readFileSync(join(staging, "zz-leak.txt"), "utf8")).toBe("TOP SECRET\n");
    },
  );

  it("refuses a missing path, a file, a non-empty staging directory and exceeded caps", async () => {
    await expect(localDirectorySource(join(work.dir, "nope")).fetch(staging, ctx())).rejects.toMatchObject({
      code: "ENOENT",
    });
    await expect(localDirectorySource(join(src, "pack.yaml")).fetch(staging, ctx())).rejects.toMatchObject({
      code: "EINVALID_INPUT",
    });
    await expect(localDirectorySource(src, { maxEntries: 3 }).fetch(staging, ctx())).rejects.toMatchObject({
      code: "ETOO_LARGE",
      details: { limit: "maxEntries" },
    });
    await expect(
      localDirectorySource(src, { maxTotalBytes: 40 }).fetch(staging, ctx()),
    ).rejects.toMatchObject({ code: "ETOO_LARGE", details: { limit: "maxTotalBytes" } });
    await expect(
      localDirectorySource(src, { maxEntryBytes: 10 }).fetch(staging, ctx()),
    ).rejects.toMatchObject({ code: "ETOO_LARGE", details: { entry: "actions/run.sh" } });
    await expect(localDirectorySource(src, { maxDepth: 1 }).fetch(staging, ctx())).rejects.toMatchObject({
      code: "ETOO_LARGE",
      details: { limit: "maxDepth" },
    });
    expect(readdirSync(staging)).toEqual([]);
    writeFileSync(join(staging, "leftover"), "x");
    await expect(localDirectorySource(src).fetch(staging, ctx())).rejects.toMatchObject({
      code: "EINVALID_INPUT",
    });
  });
});

function leftovers(): string[] {
  return readdirSync(tmpdir()).filter((n) => n.startsWith("attune-local-archive-"));
}

describe("localArchiveSource", () => {
  it("keeps the bytes of the files it wrote, so the tree can be hashed without reading them back", async () => {
    for (const [name, make] of [
      [
        "pack.tar.gz",
        (file: string) =>
          tar.c({ gzip: true, file, cwd: src, portable: true }, ["pack.yaml", "actions", ".hidden"]),
      ],
      [
        "pack.tar",
        (file: string) => tar.c({ file, cwd: src, portable: true }, ["pack.yaml", "actions", ".hidden"]),
      ],
    ] as const) {
      const file = join(work.dir, name);
      await make(file);
      const into = join(work.dir, `staged-${name}`);
      const result = await localArchiveSource(file).fetch(into, ctx());
      const kept = result.stagedContents!;
      for (const rel of ["pack.yaml", "actions/run.sh", ".hidden"])
        expect(kept.get(rel)?.toString()).toBe(readFileSync(join(into, rel), "utf8"));
      expect(kept.get("missing")).toBeUndefined();
      // hashed from those bytes: the same result as reading the tree back
      const known = await calculateDirectoryManifest(into, { contents: (rel) => kept.get(rel) });
      expect(known).toEqual(await calculateDirectoryManifest(into));
      kept.release();
    }
  });

  it("keeps no more than its byte budget", () => {
    const kept = new KeptContents(10);
    kept.keep("a", Buffer.from("123456"));
    kept.keep("b", Buffer.from("123456")); // over the budget: not kept
    kept.keep("c", Buffer.from("1234"));
    expect([kept.get("a")?.toString(), kept.get("b"), kept.get("c")?.toString(), kept.size]).toEqual([
      "123456",
      undefined,
      "1234",
      2,
    ]);
    // released: nothing kept, and the bytes go back to the process budget
    const before = KeptContents.processBytes();
    kept.release();
    kept.release(); // idempotent
    expect([kept.get("a"), kept.size, KeptContents.processBytes()]).toEqual([undefined, 0, before - 10]);
    // a copy: the writer's buffer may be reused or larger than the file
    const source = Buffer.from("xyz");
    const own = new KeptContents(100);
    own.keep("x", source.subarray(0, 2));
    source.fill(0);
    expect(own.get("x")?.toString()).toBe("xy");
    own.release();
  });

  it("shares one budget between the fetches of a process (concurrent installs)", () => {
    const start = KeptContents.processBytes();
    const room = PROCESS_KEPT_BYTES - start;
    const mib = Buffer.alloc(1024 * 1024);
    const holders = Array.from({ length: Math.ceil(room / KEPT_BYTES) + 1 }, () => new KeptContents());
    for (const h of holders) for (let i = 0; i < KEPT_BYTES / mib.length; i++) h.keep(`f${i}`, mib);
    expect(KeptContents.processBytes()).toBeLessThanOrEqual(PROCESS_KEPT_BYTES);
    expect(holders.at(-1)!.size).toBe(0); // the last one found the process budget used up
    for (const h of holders) h.release();
    expect(KeptContents.processBytes()).toBe(start);
  });

  it("extracts a .tar.gz built by node-tar and reports the checksum of the archive bytes", async () => {
    const file = join(work.dir, "pack.tar.gz");
    await tar.c({ gzip: true, file, cwd: src, portable: true }, ["pack.yaml", "actions", ".hidden"]);
    const before = leftovers();
    const result = await localArchiveSource(file).fetch(staging, ctx());
    expect(result).toMatchObject({
      sourceType: "local_archive",
      sourceUrl: file,
      archiveChecksum: await calculateFileChecksum(file),
    });
    expect(result.archiveChecksum).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(list(staging)).toEqual([".hidden", "actions", "actions/run.sh", "pack.yaml"]);
    expect(statSync(join(staging, "actions/run.sh")).mode & 0o777).toBe(0o755);
    expect(leftovers()).toEqual(before);
  });

  it("extracts a .zip built by yazl", async () => {
    const file = join(work.dir, "pack.zip");
    const zip = new yazl.ZipFile();
    zip.addBuffer(Buffer.from("ref: z\nversion: 1.0.0\n"), "pack.yaml");
    zip.addEmptyDirectory("actions");
    zip.addBuffer(Buffer.from("#!/bin/sh\n"), "actions/run.sh", { mode: 0o100755 });
    zip.end();
    await new Promise<void>((resolve) =>
      zip.outputStream.pipe(createWriteStream(file)).on("close", () => resolve()),
    );
    const result = await localArchiveSource(file).fetch(staging, ctx());
    expect(result.archiveChecksum).toBe(await calculateFileChecksum(file));
    expect(list(staging)).toEqual(["actions", "actions/run.sh", "pack.yaml"]);
    expect(statSync(join(staging, "actions/run.sh")).mode & 0o777).toBe(0o755);
  });

  it("refuses an archive holding a link, leaving staging empty and no temp copy behind", async () => {
    symlinkSync("pack.yaml", join(src, "alias.yaml"));
    const file = join(work.dir, "linked.tgz");
    await tar.c({ gzip: true, file, cwd: src }, ["pack.yaml", "alias.yaml"]);
    const before = leftovers();
    await expect(localArchiveSource(file).fetch(staging, ctx())).rejects.toMatchObject({
      code: "EUNSAFE_ARCHIVE",
      details: { entry: "alias.yaml" },
    });
    expect(readdirSync(staging)).toEqual([]);
    expect(leftovers()).toEqual(before);
  });

  it("the private copy refuses a FIFO swapped in after the type check at once, without blocking in open()", async () => {
    // what snapshot() meets when the archive was replaced by a FIFO between the check and the open:
    // a blocking open would wait for a writer for ever (in the API, holding a pool thread)
    const fifo = join(work.dir, "swapped.tar.gz");
    execFileSync("mkfifo", [fifo]);
    const started = Date.now();
    await expect(snapshot(fifo, join(work.dir, "copy"), 1 << 20)).rejects.toMatchObject({
      code: "EINVALID_INPUT",
      message: expect.stringContaining("is not a regular file"),
    });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(readdirSync(work.dir)).not.toContain("copy");
  });

  it("under local source roots refuses an archive that is a hard link", async () => {
    const file = join(work.dir, "outside.tgz");
    await tar.c({ gzip: true, file, cwd: src }, ["pack.yaml"]);
    const root = join(work.dir, "root");
    mkdirSync(root);
    linkSync(file, join(root, "linked.tgz"));
    await expect(
      localArchiveSource(join(root, "linked.tgz")).fetch(staging, ctx({ localSourceRoots: [root] })),
    ).rejects.toMatchObject({ code: "EPOLICY", details: { rule: "hard-link" } });
    expect(readdirSync(staging)).toEqual([]);
    // without roots (the CLI) it is an ordinary file
    const ok = await localArchiveSource(join(root, "linked.tgz")).fetch(staging, ctx());
    expect(ok.sourceType).toBe("local_archive");
  });

  it("refuses text named like an archive, an oversized archive, and paths outside the roots", async () => {
    const fake = join(work.dir, "fake.tar.gz");
    writeFileSync(fake, "not an archive at all\n");
    await expect(localArchiveSource(fake).fetch(staging, ctx())).rejects.toMatchObject({
      code: "EUNSAFE_ARCHIVE",
    });
    const file = join(work.dir, "pack.tar");
    await tar.c({ file, cwd: src }, ["pack.yaml"]);
    await expect(
      localArchiveSource(file, { maxTotalBytes: 1024 }).fetch(staging, ctx()),
    ).rejects.toMatchObject({ code: "ETOO_LARGE" });
    await expect(
      localArchiveSource(file).fetch(staging, ctx({ localSourceRoots: [] })),
    ).rejects.toMatchObject({ code: "EPOLICY" });
    await expect(localArchiveSource(src).fetch(staging, ctx())).rejects.toMatchObject({
      code: "EINVALID_INPUT",
    });
    expect(readdirSync(staging)).toEqual([]);
  });
});

describe("asSourceError: a source the process may not read is the caller's to mend", () => {
  const denied = (path: string, syscallCode = "EACCES") =>
    new AttuneError(ErrorCodes.EIO, `cannot read directory ${path}: EACCES: permission denied`, {
      path,
      details: { syscallCode },
    });
  it("names the source field, with a hint, for a refusal inside the source", () => {
    const e = asSourceError(denied("/srv/packs/p/secret"), ["/srv/packs/p"]) as AttuneError;
    expect(e.code).toBe(ErrorCodes.EIO);
    expect(e.details).toMatchObject({ field: "source", syscallCode: "EACCES" });
    expect(e.hint).toMatch(/readable by the user/);
    expect(
      (asSourceError(denied("/srv/packs/p", "EPERM"), ["/srv/packs/p"]) as AttuneError).details,
    ).toMatchObject({
      field: "source",
    });
  });
  it("a source file gone since the check (ENOENT) names the source field too", () => {
    const gone = new AttuneError(
      ErrorCodes.ENOENT,
      "cannot read /srv/packs/p/x.tgz: no such file or directory",
      {
        path: "/srv/packs/p/x.tgz",
      },
    );
    const e = asSourceError(gone, ["/srv/packs/p/x.tgz"]) as AttuneError;
    expect(e.details).toMatchObject({ field: "source" });
    expect(e.hint).toMatch(/changed while it was being read/);
  });

  it("leaves errors elsewhere (staging) and other system errors as they are", () => {
    const staging = denied("/home/x/.attune/packs/.staging/1@a~b/src");
    expect(asSourceError(staging, ["/srv/packs/p"])).toBe(staging);
    const sibling = denied("/srv/packs/p2/file");
    expect(asSourceError(sibling, ["/srv/packs/p"])).toBe(sibling);
    const full = denied("/srv/packs/p/f", "ENOSPC");
    expect(asSourceError(full, ["/srv/packs/p"])).toBe(full);
  });
});

describe("assertOpenedInside: a descriptor is judged by where it really is", () => {
  it("accepts a file inside a root and refuses one reached through a directory swapped for a link", async () => {
    const t = tmpDir("attune-opened-");
    try {
      const root = join(t.dir, "root");
      const outside = join(t.dir, "outside");
      writeTree(root, { "pack/x.tgz": "inside" });
      writeTree(outside, { "x.tgz": "outside" });
      // what a swap between the roots check and the open leaves: a link where a directory was
      symlinkSync(outside, join(root, "swapped"));
      const { open } = await import("node:fs/promises");
      for (const [file, ok] of [
        [join(root, "pack", "x.tgz"), true],
        [join(root, "swapped", "x.tgz"), false],
      ] as const) {
        const h = await open(file, "r");
        try {
          const check = assertOpenedInside(h.fd, file, [root]);
          if (ok) await expect(check).resolves.toBeUndefined();
          else await expect(check).rejects.toMatchObject({ code: "ESYMLINK", details: { field: "source" } });
        } finally {
          await h.close();
        }
      }
    } finally {
      t.cleanup();
    }
  });
});
