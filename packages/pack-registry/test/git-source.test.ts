import fs from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import {
  commitRawTree,
  git as runGit,
  makeBareRepo,
  writeBlob,
  writeRawTree,
  type RawTreeEntry,
  serveGit,
  serveRoutes,
  tmpDir,
  type RouteServer,
  type GitTestServer,
  type TestServer,
} from "@attune/test-utils";
import { OutboundPolicy } from "../src/policy/outbound-policy";
import type { PolicyRequestOptions, PolicyResponse } from "../src/net/request";
import { RegistryClient } from "../src/registry-index/client";
import { gitSource } from "../src/sources/git";
import type { FetchContext } from "../src/sources/types";

const policy = new OutboundPolicy({ allowHttp: true, allowedPrivateHosts: ["127.0.0.1"] });
const ctx: FetchContext = { policy, registries: new RegistryClient({ registries: [], policy }) };

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

/** The policy of the tests with a short idle timeout (the real one, 30 s, is fixed). */
class ShortIdlePolicy extends OutboundPolicy {
  constructor(readonly idleTimeoutMs: number) {
    super({ allowHttp: true, allowedPrivateHosts: ["127.0.0.1"] });
  }
  override request(url: string, opts: PolicyRequestOptions = {}): Promise<PolicyResponse> {
    return super.request(url, { ...opts, idleTimeoutMs: this.idleTimeoutMs });
  }
}

describe("git source (real git http-backend)", () => {
  const root = tmpDir("attune-git-");
  let server: GitTestServer;
  let dying: TestServer;
  let routes: RouteServer;
  let shas: string[];
  let badheadSha: string;
  /** pack.git's ref advertisement (its info/refs answer), as git http-backend sends it */
  let advertisement: Buffer;
  /** how each route below cuts it: the bytes sent, and the Content-Length declared if any */
  const cuts = new Map<string, { sent: number; declared?: number }>();
  /** the SHA of odd.git's tree (named by its tag treetag) */
  let treeSha: string;
  let stage: string;
  let n = 0;
  const newStage = () => {
    stage = path.join(root.dir, `stage-${n++}`);
    fs.mkdirSync(stage);
    return stage;
  };

  beforeAll(async () => {
    const repos = path.join(root.dir, "repos");
    fs.mkdirSync(repos);
    shas = makeBareRepo(
      repos,
      "pack",
      [
        { files: { "pack.yaml": "ref: demo\nversion: 1.0.0\n", "v.txt": "one" }, tag: "v1.0.0" },
        { files: { "v.txt": "two" }, lightweightTag: "light" },
        { files: { "v.txt": "three", "big.bin": randomBytes(64 * 1024) }, tag: "v3.0.0" },
      ],
      { feature: [{ files: { "v.txt": "feature" } }] },
    );
    // one 8 MiB blob of zeros under five names: ~8 KB on the wire, 40 MiB checked out
    const zeros = Buffer.alloc(8 * 1024 * 1024);
    makeBareRepo(repos, "bomb", [
      {
        files: {
          "pack.yaml": "ref: bomb\nversion: 1.0.0\n",
          ...Object.fromEntries([1, 2, 3, 4, 5].map((i) => [`z${i}.bin`, zeros])),
        },
        tag: "v1.0.0",
      },
    ]);
    // a later commit changes a file by a little: the blob travels as a delta of the first one
    makeBareRepo(repos, "delta", [
      { files: { "pack.yaml": "ref: delta\nversion: 1.0.0\n", "d.bin": zeros } },
      { files: { "d.bin": Buffer.concat([zeros, Buffer.from("tail")]) }, tag: "v2.0.0" },
    ]);
    // a branch and a tag of the same name, on different commits (docs/sources.md: the tag wins)
    makeBareRepo(
      repos,
      "ambiguous",
      [{ files: { "pack.yaml": "ref: amb\nversion: 1.0.0\n", "v.txt": "tag" }, tag: "v1.0.0" }],
      { "v1.0.0": [{ files: { "pack.yaml": "ref: amb\nversion: 2.0.0\n", "v.txt": "branch" } }] },
    );
    makeBareRepo(repos, "clash", [
      {
        files: { "pack.yaml": "ref: clash\nversion: 1.0.0\n", "README.md": "a", "readme.md": "b" },
        tag: "v1.0.0",
      },
    ]);
    // tags that name a tree, a blob, and an annotated tag of a tree: none names a commit
    const odd = path.join(repos, "odd.git");
    makeBareRepo(repos, "odd", [{ files: { "pack.yaml": "ref: odd\nversion: 1.0.0\n" }, tag: "v1.0.0" }]);
    runGit(odd, "tag", "treetag", "main^{tree}");
    runGit(odd, "tag", "blobtag", "main:pack.yaml");
    runGit(odd, "tag", "-a", "annotated-tree", "-m", "a tree", "main^{tree}");
    treeSha = runGit(odd, "rev-parse", "main^{tree}");
    // a repository holding a symbolic link (and a submodule entry: a gitlink)
    const lw = path.join(root.dir, "linked-work");
    fs.mkdirSync(lw);
    const g = (...args: string[]) => execFileSync("git", args, { cwd: lw });
    g("init", "-q", "-b", "main");
    g("config", "user.email", "t@example.com");
    g("config", "user.name", "t");
    fs.writeFileSync(path.join(lw, "pack.yaml"), "ref: linked\nversion: 1.0.0\n");
    fs.symlinkSync("/etc/passwd", path.join(lw, "evil"));
    g("add", "-A");
    g("commit", "-qm", "c");
    g("tag", "v1.0.0");
    execFileSync("git", ["clone", "-q", "--bare", lw, path.join(repos, "linked.git")]);
    // HEAD names a branch that does not exist (`git init --bare` gives master; only main was
    // pushed): git http-backend then advertises no HEAD at all
    [badheadSha] = makeBareRepo(repos, "badhead", [
      { files: { "pack.yaml": "ref: badhead\nversion: 1.0.0\n" }, tag: "v1.0.0" },
    ]);
    runGit(path.join(repos, "badhead.git"), "symbolic-ref", "HEAD", "refs/heads/nope");
    // trees git itself never writes, one per tag (git mktree takes any name and mode)
    const hostile = path.join(repos, "hostile.git");
    runGit(repos, "init", "-q", "--bare", hostile);
    const manifest = writeBlob(hostile, "ref: hostile\nversion: 1.0.0\n");
    const pwned = writeBlob(hostile, "pwned\n");
    const yaml: RawTreeEntry = { mode: "100644", type: "blob", oid: manifest, name: "pack.yaml" };
    const file = (name: string | Buffer, mode = "100644"): RawTreeEntry => ({
      mode,
      type: "blob",
      oid: pwned,
      name,
    });
    const dir = (name: string, entries: RawTreeEntry[] = [file("evil")]): RawTreeEntry => ({
      mode: "040000",
      type: "tree",
      oid: writeRawTree(hostile, entries),
      name,
    });
    const trees: Record<string, RawTreeEntry[]> = {
      dotdot: [yaml, file("..")],
      dotdotdir: [yaml, dir("..")],
      dotdir: [yaml, dir(".")],
      gitdir: [yaml, dir(".git")],
      GITdir: [yaml, dir(".GIT")],
      gitfile: [yaml, file(".git")],
      gitshort: [yaml, file("GIT~1")],
      gitsub: [yaml, dir("sub", [dir(".git")])],
      backslash: [yaml, file("..\\evil")],
      empty: [yaml, file("")],
      modes: [
        yaml,
        file("weird", "100664"),
        dir("bin", [file("run.sh", "100775")]),
        // a tree with no file in it (only a crafted commit has one): git checks out no directory
        dir("emptydir", []),
        dir("outer", [dir("inner", [])]),
      ],
    };
    for (const [tag, entries] of Object.entries(trees))
      commitRawTree(hostile, writeRawTree(hostile, entries), tag);
    server = await serveGit(repos);
    dying = await serveGit(repos, { dieAfterBytes: 300 });
    routes = await serveRoutes();
    routes.route("/binary.git/info/refs", (_q, r) => {
      // not a git server: a gzip body where the smart-HTTP advertisement should be
      r.writeHead(200, { "content-type": "application/x-git-upload-pack-advertisement" });
      // a first pkt-line of binary bytes ("received: \u001f\ufffd\b..." was quoted as is)
      const line = Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x07, 0x1b, 0x0d]), randomBytes(500)]);
      r.end(
        Buffer.concat([
          Buffer.from((line.length + 4).toString(16).padStart(4, "0")),
          line,
          Buffer.from("0000"),
        ]),
      );
    });
    // a moved repository, answered the way GitHub answers a renamed one: 301 for every request
    for (const sub of ["/info/refs", "/git-upload-pack"])
      routes.route(`/moved.git${sub}`, (q, r) => {
        const query = (q.url ?? "").includes("?") ? (q.url ?? "").slice((q.url ?? "").indexOf("?")) : "";
        r.writeHead(301, { location: `${server.url}/pack.git${sub}${query}` });
        r.end();
      });
    // pack.git's real ref advertisement, cut short: the server dies (with a Content-Length, or
    // chunked) or stalls after `bytes` bytes
    const res = await fetch(`${server.url}/pack.git/info/refs?service=git-upload-pack`);
    advertisement = Buffer.from(await res.arrayBuffer());
    const cut = (repo: string, bytes: number, how: "close" | "chunked" | "stall" | "eof") => {
      cuts.set(repo, {
        sent: bytes,
        declared: how === "chunked" || how === "eof" ? undefined : advertisement.length,
      });
      routes.route(`/${repo}/info/refs`, (_q, r) => {
        if (how === "eof") {
          // no Content-Length, no chunks: the body ends where the server closes, cleanly
          r.socket?.end(
            Buffer.concat([
              Buffer.from(
                "HTTP/1.1 200 OK\r\ncontent-type: application/x-git-upload-pack-advertisement\r\nconnection: close\r\n\r\n",
              ),
              advertisement.subarray(0, bytes),
            ]),
          );
          return;
        }
        r.writeHead(200, {
          "content-type": "application/x-git-upload-pack-advertisement",
          ...(how === "chunked" ? {} : { "content-length": advertisement.length }),
        });
        r.write(advertisement.subarray(0, bytes), () => {
          if (how !== "stall") r.socket?.destroy();
        });
      });
      // were the clone to go on: the rest of it from the real repository (307 keeps the POST)
      routes.route(`/${repo}/git-upload-pack`, (_q, r) => {
        r.writeHead(307, { location: `${server.url}/pack.git/git-upload-pack` });
        r.end();
      });
    };
    cut("cut.git", 300, "close");
    cut("cut-chunked.git", 300, "chunked");
    // every ref arrives, only the final flush-pkt is missing
    cut("cut-flush.git", advertisement.length - 4, "close");
    cut("stall.git", 300, "stall");
    cut("cut-eof.git", 300, "eof");
    // a whole answer (all of its Content-Length, or chunked to its end) that is no ref advertisement:
    // its last pkt-line promises 255 bytes and holds 7, and no flush-pkt closes it (isomorphic-git's
    // reader takes the short line for the end: an empty repository, or a missing ref)
    const malformed = Buffer.from("001e# service=git-upload-pack\n0000" + "00ffabcdefg");
    for (const how of ["length", "chunked"] as const)
      routes.route(`/malformed-${how}.git/info/refs`, (_q, r) => {
        r.writeHead(200, {
          "content-type": "application/x-git-upload-pack-advertisement",
          ...(how === "length" ? { "content-length": malformed.length } : {}),
        });
        r.end(malformed);
      });
    routes.route("/locked.git/info/refs", (_q, r) => void r.writeHead(401).end());
    routes.route("/evil.git/info/refs", (_q, r) => {
      r.writeHead(302, { location: "http://169.254.169.254/repo.git/info/refs" });
      r.end();
    });
  });
  afterAll(async () => {
    await server.close();
    await dying.close();
    await routes.close();
    root.cleanup();
  });

  const read = (f: string) => fs.readFileSync(path.join(stage, f), "utf8");

  it.each([
    ["v1.0.0", 0, "one"],
    ["light", 1, "two"],
  ])("clones tag %s shallowly, records the peeled commit and drops .git", async (ref, i, content) => {
    const r = await gitSource(`${server.url}/pack.git`, ref).fetch(newStage(), ctx);
    expect(r).toMatchObject({ sourceType: "git", sourceRef: ref, resolvedCommit: shas[i as number] });
    expect(read("v.txt")).toBe(content);
    expect(fs.existsSync(path.join(stage, ".git"))).toBe(false);
  });

  it("clones a branch and the remote HEAD by default", async () => {
    const f = await gitSource(`${server.url}/pack.git`, "feature").fetch(newStage(), ctx);
    expect(f.resolvedCommit).toBe(shas[3]);
    expect(read("v.txt")).toBe("feature");
    const d = await gitSource(`${server.url}/pack.git`).fetch(newStage(), ctx);
    expect(d).toMatchObject({ resolvedCommit: shas[2], sourceRef: "main" });
    expect(read("v.txt")).toBe("three");
  });

  it("a branch and a tag of the same name: the tag wins (unlike git clone --branch); refs/heads/… picks the branch", async () => {
    const url = `${server.url}/ambiguous.git`;
    const t = await gitSource(url, "v1.0.0").fetch(newStage(), ctx);
    expect(read("v.txt")).toBe("tag");
    expect(t).toMatchObject({ sourceRef: "v1.0.0", details: { refKind: "tag" } });
    const b = await gitSource(url, "refs/heads/v1.0.0").fetch(newStage(), ctx);
    expect(read("v.txt")).toBe("branch");
    expect(b).toMatchObject({ sourceRef: "refs/heads/v1.0.0", details: { refKind: "branch" } });
    const f = await gitSource(`${server.url}/pack.git`, "feature").fetch(newStage(), ctx);
    expect(f.details).toEqual({ refKind: "branch", finalUrl: `${server.url}/pack.git` });
  });

  it("takes the URL's scheme in any case, as URLs do (HTTP://, Https://)", async () => {
    const upper = server.url.replace(/^http:/, "HTTP:");
    expect(upper.startsWith("HTTP://")).toBe(true);
    const f = await gitSource(`${upper}/pack.git`, "v1.0.0").fetch(newStage(), ctx);
    expect(f.resolvedCommit).toBe(shas[0]);
    expect(read("v.txt")).toBe("one");
  });

  it("checks out a commit SHA that is not a branch tip", async () => {
    const r = await gitSource(`${server.url}/pack.git`, shas[1]).fetch(newStage(), ctx);
    expect(r.resolvedCommit).toBe(shas[1]);
    expect(read("v.txt")).toBe("two");
    expect(fs.existsSync(path.join(stage, ".git"))).toBe(false);
  });

  it("reports an unknown ref or commit as ENOTFOUND naming it, leaving staging empty", async () => {
    const e = await rejection(gitSource(`${server.url}/pack.git`, "v9.9.9").fetch(newStage(), ctx));
    expect(e.code).toBe("ENOTFOUND");
    expect(e.message).toContain("v9.9.9");
    expect(fs.readdirSync(stage)).toEqual([]);
    const c = await rejection(gitSource(`${server.url}/pack.git`, "a".repeat(40)).fetch(newStage(), ctx));
    expect(c.code).toBe("ENOTFOUND");
    expect(fs.readdirSync(stage)).toEqual([]);
    // an abbreviated SHA is named as such, with the fix
    const short = await rejection(
      gitSource(`${server.url}/pack.git`, shas[0].slice(0, 7)).fetch(newStage(), ctx),
    );
    expect(short).toMatchObject({ code: "ENOTFOUND", hint: expect.stringMatching(/all 40 hex digits/) });
    // a URL with a query is refused, without the value of a secret-looking parameter
    const secret = await rejection(
      gitSource(`${server.url}/pack.git?token=TOKSECRET`, "v9.9.9").fetch(newStage(), ctx),
    );
    // refused before any request (git adds /info/refs after the query: it could never work)
    expect(secret.code).toBe("EINVALID_INPUT");
    expect(secret.message).toContain('takes no ?query ("?token=***")');
    expect(JSON.stringify([secret.message, secret.details])).not.toContain("TOKSECRET");
  });

  it.each([
    "-upload-pack=touch /tmp/x",
    "a..b",
    "v1\n",
    "v1\u0000",
    "a b",
    "x.lock",
    "a~1",
    "a^",
    "a:b",
    "*",
    "a\\b",
    "@",
  ])("rejects the ref %j before any network call", async (ref) => {
    const before = routes.requests.length;
    const e = await rejection(gitSource(`${routes.url}/x.git`, ref).fetch(newStage(), ctx));
    expect(e.code).toBe("EINVALID_INPUT");
    expect(e.details).toMatchObject({ field: "ref" });
    expect(routes.requests.length).toBe(before);
  });

  it("fails with EFETCH and an empty staging dir when the server dies mid-clone, saying the pack was truncated", async () => {
    const e = (await rejection(gitSource(`${dying.url}/pack.git`, "v3.0.0").fetch(newStage(), ctx))) as {
      code?: string;
      message: string;
      hint?: string;
    };
    expect(e.code).toBe("EFETCH");
    expect(e.message).toMatch(
      /^source: the download of http:\/\/127\.0\.0\.1:\d+\/pack\.git\/git-upload-pack was truncated: the connection closed after \d+ bytes$/,
    );
    expect(e.hint).toMatch(/^retry/);
    expect(fs.readdirSync(stage)).toEqual([]);
  });

  it.each([
    ["cut.git", "v1.0.0"],
    ["cut.git", undefined],
    ["cut-chunked.git", "v1.0.0"],
    ["cut-chunked.git", undefined],
    ["cut-flush.git", "v1.0.0"],
    ["cut-eof.git", "v1.0.0"],
    ["cut-eof.git", undefined],
  ])(
    "reports the ref advertisement (info/refs) of %s cut short as truncated (ref %s), not as a missing ref or an empty repository",
    async (repo, ref) => {
      const before = routes.requests.length;
      const e = (await rejection(gitSource(`${routes.url}/${repo}`, ref).fetch(newStage(), ctx))) as {
        code?: string;
        message: string;
        hint?: string;
      };
      const { sent, declared } = cuts.get(repo)!;
      const bytes = declared === undefined ? `${sent}` : `${sent} of ${declared}`;
      expect(e.code).toBe("EFETCH");
      expect(e.message).toBe(
        `source: the download of ${routes.url}/${repo}/info/refs?service=git-upload-pack was truncated: the connection closed after ${bytes} bytes`,
      );
      expect(e.hint).toMatch(/^retry/);
      // nothing more is asked of a server whose advertisement was cut short
      expect(routes.requests.slice(before).map((q) => q.path)).toEqual([`/${repo}/info/refs`]);
      expect(fs.readdirSync(stage)).toEqual([]);
    },
  );

  it.each([
    ["malformed-length.git", "v1.0.0"],
    ["malformed-length.git", undefined],
    ["malformed-chunked.git", "v1.0.0"],
    ["malformed-chunked.git", undefined],
  ])(
    "reports a ref advertisement of %s that arrived whole but is malformed as such, not as truncated (ref %s)",
    async (repo, ref) => {
      const before = routes.requests.length;
      const e = (await rejection(gitSource(`${routes.url}/${repo}`, ref).fetch(newStage(), ctx))) as {
        code?: string;
        message: string;
        hint?: string;
        details?: Record<string, unknown>;
      };
      expect(e.code).toBe("EFETCH");
      expect(e.message).toBe(
        `source: ${routes.url}/${repo}/info/refs?service=git-upload-pack is not a valid git ref advertisement: its 45 bytes arrived whole but do not end with a flush-pkt ("0000")`,
      );
      expect(e.hint).toBe(
        "check the repository URL, and that a git server answers it (not a proxy or a web application in its place)",
      );
      expect(e.details).toMatchObject({ field: "source", bytes: 45, malformed: true });
      expect(e.details?.truncated).toBeUndefined();
      expect(routes.requests.slice(before).map((q) => q.path)).toEqual([`/${repo}/info/refs`]);
      expect(fs.readdirSync(stage)).toEqual([]);
    },
  );

  it("reports a ref advertisement that stalls as ETIMEOUT naming the URL and the time waited", async () => {
    const slow: FetchContext = { ...ctx, policy: new ShortIdlePolicy(500) };
    for (const ref of ["v1.0.0", undefined]) {
      const e = (await rejection(gitSource(`${routes.url}/stall.git`, ref).fetch(newStage(), slow))) as {
        code?: string;
        message: string;
        hint?: string;
      };
      expect(e.code).toBe("ETIMEOUT");
      expect(e.message).toBe(
        `source: ${routes.url}/stall.git/info/refs?service=git-upload-pack sent nothing for 500 ms (idle timeout)`,
      );
      expect(e.hint).toMatch(/then retry/);
      expect(fs.readdirSync(stage)).toEqual([]);
    }
  });

  it.each([
    [100, "v1.0.0"],
    [100, undefined],
    [400, "v1.0.0"],
    [400, undefined],
  ])(
    "reports a download cap of %d bytes, smaller than the ref advertisement, as ETOO_LARGE (ref %s)",
    async (cap, ref) => {
      expect(advertisement.length).toBeGreaterThan(cap);
      const small: FetchContext = {
        ...ctx,
        policy: new OutboundPolicy({
          allowHttp: true,
          allowedPrivateHosts: ["127.0.0.1"],
          maxDownloadBytes: cap,
        }),
      };
      const e = (await rejection(gitSource(`${server.url}/pack.git`, ref).fetch(newStage(), small))) as {
        code?: string;
        message: string;
        hint?: string;
      };
      expect(e.code).toBe("ETOO_LARGE");
      expect(e.message).toBe(
        `source: the clone of ${server.url}/pack.git transferred more than the ${cap}-byte download cap`,
      );
      expect(e.hint).toMatch(/raise ATTUNE_MAX_DOWNLOAD_BYTES/);
      expect(fs.readdirSync(stage)).toEqual([]);
    },
  );

  it.each([
    ["treetag", "tree"],
    ["blobtag", "blob"],
    ["annotated-tree", "tree"],
  ])(
    "refuses the tag %s, which names a %s and not a commit, as ENOTFOUND naming the ref",
    async (ref, kind) => {
      const e = (await rejection(gitSource(`${server.url}/odd.git`, ref).fetch(newStage(), ctx))) as {
        code?: string;
        message: string;
        hint?: string;
        details?: Record<string, unknown>;
      };
      expect(e.code).toBe("ENOTFOUND");
      expect(e.message).toBe(`git ref "${ref}" in ${server.url}/odd.git names a ${kind}, not a commit`);
      expect(e.details).toMatchObject({ field: "ref", ref });
      expect(e.hint).toMatch(/give a tag or branch that points at a commit/);
      expect(e.hint).not.toMatch(/reachable/);
      expect(fs.readdirSync(stage)).toEqual([]);
    },
  );

  it("refuses the SHA of a tree as ENOTFOUND saying it names a tree, not that it was not found", async () => {
    const e = (await rejection(gitSource(`${server.url}/odd.git`, treeSha).fetch(newStage(), ctx))) as {
      code?: string;
      message: string;
      hint?: string;
    };
    expect(e.code).toBe("ENOTFOUND");
    expect(e.message).toBe(`git ref "${treeSha}" in ${server.url}/odd.git names a tree, not a commit`);
    expect(e.hint).toMatch(/give the SHA of a commit/);
    expect(fs.readdirSync(stage)).toEqual([]);
  });

  it("refuses an npm-style ref in the URL's #fragment before any request, naming --ref", async () => {
    const before = routes.requests.length;
    const e = (await rejection(gitSource(`${routes.url}/pack.git#v1.0.0`).fetch(newStage(), ctx))) as {
      code?: string;
      message: string;
      hint?: string;
      details?: Record<string, unknown>;
    };
    expect(e.code).toBe("EINVALID_INPUT");
    expect(e.details).toMatchObject({ field: "source" });
    expect(e.message).toContain('a git URL takes no #fragment ("#v1.0.0")');
    expect(e.hint).toContain("give the ref separately: --ref v1.0.0");
    expect(routes.requests.length).toBe(before);
  });

  it("says an empty repository has no branch to clone (not isomorphic-git's refs/heads/master)", async () => {
    const bare = path.join(root.dir, "repos", "empty.git");
    execFileSync("git", ["init", "-q", "--bare", bare]);
    execFileSync("git", ["-C", bare, "symbolic-ref", "HEAD", "refs/heads/main"]);
    const e = (await rejection(gitSource(`${server.url}/empty.git`).fetch(newStage(), ctx))) as {
      code?: string;
      message: string;
      hint?: string;
    };
    expect(e.code).toBe("ENOTFOUND");
    expect(e.message).toMatch(
      /empty\.git has no default branch to clone: the repository is empty \(no commits\)/,
    );
    expect(e.message).not.toMatch(/master/);
    expect(e.hint).toMatch(/push a commit.*--ref/);
  });

  it("obeys the outbound policy: http refused, redirects re-checked, size capped", async () => {
    const strict: FetchContext = {
      ...ctx,
      policy: new OutboundPolicy({ allowedPrivateHosts: ["127.0.0.1"] }),
    };
    expect(
      (await rejection(gitSource(`${server.url}/pack.git`, "v1.0.0").fetch(newStage(), strict))).code,
    ).toBe("EPOLICY");
    const e = await rejection(gitSource(`${routes.url}/evil.git`, "v1.0.0").fetch(newStage(), ctx));
    expect(e.code).toBe("EPOLICY");
    const small: FetchContext = {
      ...ctx,
      policy: new OutboundPolicy({
        allowHttp: true,
        allowedPrivateHosts: ["127.0.0.1"],
        maxDownloadBytes: 20_000,
      }),
    };
    const big = (await rejection(gitSource(`${server.url}/pack.git`, "v3.0.0").fetch(newStage(), small))) as {
      code?: string;
      message: string;
      hint?: string;
    };
    expect(big.code).toBe("ETOO_LARGE");
    // the cap configured, not what was left of it after info/refs
    expect(big.message).toBe(
      `source: the clone of ${server.url}/pack.git transferred more than the 20000-byte download cap`,
    );
    expect(big.hint).toMatch(/raise ATTUNE_MAX_DOWNLOAD_BYTES \(max_download_bytes in config\.yaml\)/);
    expect(fs.readdirSync(stage)).toEqual([]);
  });

  it("stops on the caller's AbortSignal, reports progress, and leaves staging empty", async () => {
    const ac = new AbortController();
    ac.abort();
    const e = await rejection(
      gitSource(`${server.url}/pack.git`, "v3.0.0").fetch(newStage(), { ...ctx, signal: ac.signal }),
    );
    expect(e.code).toBe("EFETCH");
    expect(e.details).toMatchObject({ aborted: true });
    expect(fs.readdirSync(stage)).toEqual([]);
    const seen: number[] = [];
    await gitSource(`${server.url}/pack.git`, "v1.0.0").fetch(newStage(), {
      ...ctx,
      onProgress: (p) => seen.push(p.bytes ?? 0),
    });
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.at(-1)).toBeGreaterThan(0);
  });

  it("quotes what a broken remote sent only as printable text, and briefly", async () => {
    const e = await rejection(gitSource(`${routes.url}/binary.git`, "v1.0.0").fetch(newStage(), ctx));
    expect(e.code).toBe("EFETCH");
    // eslint-disable-next-line no-control-regex -- the point is that there are none
    expect(e.message).not.toMatch(/[\u0000-\u001f\u007f-\u009f\ufffd]/);
    expect(e.message.length).toBeLessThan(500);
  });

  it("follows a repository that moved (301 on info/refs and on upload-pack), as git does", async () => {
    const r = await gitSource(`${routes.url}/moved.git`, "v1.0.0").fetch(newStage(), ctx);
    expect(r).toMatchObject({ sourceType: "git", resolvedCommit: shas[0] });
    expect(read("v.txt")).toBe("one");
  });

  it("refuses a tree over the caps before checking anything out (sizes from the pack headers)", async () => {
    const capped = { ...ctx, limits: { maxTotalBytes: 20 * 1024 * 1024 } };
    const e = await rejection(gitSource(`${server.url}/bomb.git`, "v1.0.0").fetch(newStage(), capped));
    expect(e.code).toBe("ETOO_LARGE");
    expect(e.message).toMatch(
      /^file in the repository "z\d\.bin": archive declares more than 20971520 bytes/,
    );
    expect(fs.readdirSync(stage)).toEqual([]); // nothing was written, and the clone is gone
    const perFile = { ...ctx, limits: { maxEntryBytes: 1024 * 1024 } };
    expect(
      (await rejection(gitSource(`${server.url}/bomb.git`, "v1.0.0").fetch(newStage(), perFile))).code,
    ).toBe("ETOO_LARGE");
    const few = { ...ctx, limits: { maxEntries: 3 } };
    expect(
      (await rejection(gitSource(`${server.url}/bomb.git`, "v1.0.0").fetch(newStage(), few))).details,
    ).toMatchObject({
      limit: "maxEntries",
    });
    // within the caps, the same repository checks out whole
    await gitSource(`${server.url}/bomb.git`, "v1.0.0").fetch(newStage(), ctx);
    expect(fs.statSync(path.join(stage, "z5.bin")).size).toBe(8 * 1024 * 1024);
  });

  it("reads the size of a blob stored as a delta (a commit SHA fetches the whole history)", async () => {
    const head = execFileSync("git", ["rev-parse", "v2.0.0^{commit}"], {
      cwd: path.join(root.dir, "repos", "delta.git"),
    })
      .toString()
      .trim();
    const capped = { ...ctx, limits: { maxEntryBytes: 8 * 1024 * 1024 } };
    const e = await rejection(gitSource(`${server.url}/delta.git`, head).fetch(newStage(), capped));
    // refused while the pack arrives, before isomorphic-git inflates anything
    expect(e.code).toBe("ETOO_LARGE");
    expect(e.message).toMatch(
      /holds an object of more than 8388612 bytes, over the cap of 8388608 bytes per file/,
    );
    expect(e.details).toMatchObject({ field: "source", limit: "maxEntryBytes", value: 8 * 1024 * 1024 + 4 });
    expect(fs.readdirSync(stage)).toEqual([]);
  });

  it("refuses a symbolic link in the tree before anything is checked out", async () => {
    const e = await rejection(gitSource(`${server.url}/linked.git`, "v1.0.0").fetch(newStage(), ctx));
    expect(e.code).toBe("ESYMLINK");
    expect(e.message).toMatch(/^file in the repository "evil" is a symbolic link/);
    expect(fs.readdirSync(stage)).toEqual([]);
  });

  it("applies the archive name rules to a repository's files (a case collision is refused)", async () => {
    const e = await rejection(gitSource(`${server.url}/clash.git`, "v1.0.0").fetch(newStage(), ctx));
    expect(e.code).toBe("EUNSAFE_ARCHIVE");
    expect(e.message).toMatch(/collides/);
    expect(e.details).toMatchObject({ field: "source" });
  });

  it("never sends a registry's token to the host a moved repository went to", async () => {
    const seen = server.requests.length;
    const token = "Bearer registry-secret-123";
    await gitSource(`${routes.url}/moved.git`, "v1.0.0", { headers: { Authorization: token } }).fetch(
      newStage(),
      ctx,
    );
    // the first origin got it; the other one (info/refs by redirect, upload-pack by the rebase) did not
    expect(
      routes.requests.some((q) => q.path.startsWith("/moved.git") && q.headers.authorization === token),
    ).toBe(true);
    const there = server.requests.slice(seen);
    expect(there.map((q) => q.path)).toEqual(
      expect.arrayContaining(["/pack.git/info/refs", "/pack.git/git-upload-pack"]),
    );
    for (const q of there) expect(q.headers.authorization).toBeUndefined();
  });

  it("hints at a registry's headers on a 401 only when the URL came from that registry", async () => {
    const url = `${routes.url}/locked.git`;
    const direct = (await rejection(gitSource(url, "v1.0.0").fetch(newStage(), ctx))) as { hint?: string };
    // a direct URL: it cannot carry credentials, so a registry is the way (like an archive URL's)
    expect(direct.hint).toMatch(/a URL cannot carry credentials/);
    expect(direct.hint).not.toMatch(/configure headers for registry/);
    const listed = (await rejection(
      gitSource(url, "v1.0.0", { registryName: "corp" }).fetch(newStage(), ctx),
    )) as { code?: string; hint?: string; details?: Record<string, unknown> };
    expect(listed).toMatchObject({ code: "EFETCH", details: { status: 401 } });
    expect(listed.hint).toBe(
      'the server wants credentials: configure headers for registry "corp" in config.yaml (registries[].headers)',
    );
  });

  it("reports a missing repository as EFETCH, hinting that an archive URL needs its extension", async () => {
    const e = (await rejection(gitSource(`${server.url}/nope.git`, "v1.0.0").fetch(newStage(), ctx))) as {
      code?: string;
      hint?: string;
    };
    expect(e.code).toBe("EFETCH");
    expect(e.hint).toMatch(/\.tar\.gz, \.tgz, \.tar or \.zip/);
  });

  it.each(["main", "refs/heads/main", "v1.0.0", "sha"])(
    "clones the ref %s of a repository whose HEAD names a branch that does not exist (as git clone --branch does)",
    async (given) => {
      const ref = given === "sha" ? badheadSha : given;
      const r = await gitSource(`${server.url}/badhead.git`, ref).fetch(newStage(), ctx);
      expect(r).toMatchObject({ sourceRef: ref, resolvedCommit: badheadSha });
      expect(read("pack.yaml")).toBe("ref: badhead\nversion: 1.0.0\n");
      expect(fs.existsSync(path.join(stage, ".git"))).toBe(false);
    },
  );

  it.each([undefined, "HEAD"])(
    "says a repository whose HEAD names no branch has no default branch (ref %s), hinting at --ref",
    async (ref) => {
      const e = (await rejection(gitSource(`${server.url}/badhead.git`, ref).fetch(newStage(), ctx))) as {
        code?: string;
        message: string;
        hint?: string;
      };
      expect(e.code).toBe("ENOTFOUND");
      expect(e.message).toBe(
        `${server.url}/badhead.git has no default branch to clone: the repository is empty (no commits) or its HEAD names a branch that does not exist`,
      );
      expect(e.hint).toMatch(/--ref/);
      expect(fs.readdirSync(stage)).toEqual([]);
    },
  );

  it("takes the ref HEAD for the default branch, as no ref at all", async () => {
    const r = await gitSource(`${server.url}/pack.git`, "HEAD").fetch(newStage(), ctx);
    expect(r).toMatchObject({ sourceRef: "HEAD", resolvedCommit: shas[2], details: { refKind: "branch" } });
    expect(read("v.txt")).toBe("three");
  });

  it("records where a repository that moved was cloned from (details.finalUrl), and the URL itself otherwise", async () => {
    const moved = await gitSource(`${routes.url}/moved.git`, "v1.0.0").fetch(newStage(), ctx);
    expect(moved.details).toEqual({ refKind: "tag", finalUrl: `${server.url}/pack.git` });
    expect(moved.sourceUrl).toBe(`${routes.url}/moved.git`);
    const direct = await gitSource(`${server.url}/pack.git`, "v1.0.0").fetch(newStage(), ctx);
    expect(direct.details).toEqual({ refKind: "tag", finalUrl: `${server.url}/pack.git` });
  });

  it.each([
    ["dotdot", ".."],
    ["dotdotdir", ".."],
    ["dotdir", "."],
    ["gitdir", ".git"],
    ["GITdir", ".GIT"],
    ["gitfile", ".git"],
    ["gitshort", "GIT~1"],
    ["gitsub", "sub/.git"],
    ["backslash", "..\\evil"],
    ["empty", ""],
  ])(
    "refuses the tree of tag %s (an entry %j) as EUNSAFE_ARCHIVE naming the entry, with a hint about the repository",
    async (tag, entry) => {
      const e = (await rejection(gitSource(`${server.url}/hostile.git`, tag).fetch(newStage(), ctx))) as {
        code?: string;
        message: string;
        hint?: string;
        details?: Record<string, unknown>;
      };
      expect(e.code).toBe("EUNSAFE_ARCHIVE");
      expect(e.details).toMatchObject({ entry, field: "source", ref: tag });
      expect(e.message.startsWith(`file in the repository "${entry}": `)).toBe(true);
      expect(e.hint).toBe(
        `the tree of ${server.url}/hostile.git at "${tag}" is refused as a whole: fix the repository (rename or remove this entry in a new commit) and use a ref that points at the fixed commit`,
      );
      // none of isomorphic-git's own wording
      expect(`${e.message} ${e.hint}`).not.toMatch(
        /unsafe character sequences|isomorphic-git|please report|archive/i,
      );
      expect(fs.readdirSync(stage)).toEqual([]);
    },
  );

  it("reads a file of mode 100664 (old git wrote it) as 100644, and 100775 as 100755, as git does", async () => {
    const r = await gitSource(`${server.url}/hostile.git`, "modes").fetch(newStage(), ctx);
    expect(r.details).toMatchObject({ refKind: "tag" });
    expect(read("weird")).toBe("pwned\n");
    expect(fs.statSync(path.join(stage, "weird")).mode & 0o777).toBe(0o644);
    expect(fs.statSync(path.join(stage, "bin", "run.sh")).mode & 0o777).toBe(0o755);
    expect(fs.readdirSync(stage).sort()).toEqual(["bin", "pack.yaml", "weird"]); // no emptydir, no outer
  });
});
