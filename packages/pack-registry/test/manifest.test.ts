import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import { tmpDir } from "@attune/test-utils";
import { findPackRoot, loadManifest, parseDependency, parseManifest } from "../src/manifest";

let work: ReturnType<typeof tmpDir>;
beforeEach(() => {
  work = tmpDir("attune-manifest-");
});
afterEach(() => work.cleanup());

function pack(dir: string, yaml: string | Buffer): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "pack.yaml"), yaml);
  return dir;
}

/** The EMANIFEST error a manifest text produces. */
function failure(yaml: string | Buffer): {
  code: string;
  message: string;
  hint?: string;
  details?: { field?: unknown };
} {
  try {
    parseManifest(yaml);
  } catch (err) {
    return err as never;
  }
  throw new Error("expected the manifest to be refused");
}

describe("parseManifest / loadManifest", () => {
  it("reads every field and maps legacy keys onto canonical ones", async () => {
    const dir = pack(
      work.dir,
      [
        "ref: my_pack",
        "version: 1.2.3-rc.1",
        "name: My Pack",
        "description: does things",
        "author: Ada",
        "email: ada@example.com",
        "license: MIT",
        "keywords: [net, dns]",
        "conf_schema: { api_key: { type: string, secret: true } }",
        "meta: { tier: gold }",
        "runtime_deps: [python3]",
        "dependencies: [core, 'net_tools@^1.2.0']",
        "stackstorm_version: '>=3'",
        "",
      ].join("\n"),
    );
    expect(await loadManifest(dir)).toEqual({
      ref: "my_pack",
      version: "1.2.3-rc.1",
      label: "My Pack",
      description: "does things",
      author: "Ada",
      email: "ada@example.com",
      license: "MIT",
      tags: ["net", "dns"],
      conf_schema: { api_key: { type: "string", secret: true } },
      meta: { tier: "gold" },
      runtime_deps: ["python3"],
      dependencies: [
        { ref: "core", range: "*" },
        { ref: "net_tools", range: "^1.2.0" },
      ],
    });
  });

  it("accepts the largest version numbers semver can hold, and a larger numeric prerelease", () => {
    for (const version of [
      "9007199254740991.9007199254740991.9007199254740991",
      "1.0.0-99999999999999999999",
    ])
      expect(parseManifest(`ref: abc\nversion: ${version}\n`).version).toBe(version);
  });

  it("prefers canonical keys, defaults label to the ref and treats empty keys as absent", () => {
    const m = parseManifest("ref: abc\nversion: 0.1.0\nlabel: L\nname: N\ntags: [t]\nkeywords: [k]\n");
    expect(m).toMatchObject({ label: "L", tags: ["t"] });
    const bare = parseManifest("ref: abc\nversion: 0.1.0\ndescription:\n");
    expect(bare).toEqual({
      ref: "abc",
      version: "0.1.0",
      label: "abc",
      tags: [],
      runtime_deps: [],
      dependencies: [],
    });
  });

  it.each([
    ["version: 1.0.0\n", "ref", /field "ref": is required/],
    ["ref: abc\n", "version", /field "version": is required/],
    [
      'ref: abc\nversion: "1.0"\n',
      "version",
      /field "version": "1.0" is not a strict semver version \(e\.g\. 1\.0\.0\)/,
    ],
    [
      "ref: abc\nversion: 1.0\n",
      "version",
      /field "version": 1\.0 is a YAML number \(read as 1\), not a string/,
    ],
    [
      "ref: abc\nversion: 1.10 # minor ten\n",
      "version",
      /field "version": 1\.10 is a YAML number \(read as 1\.1\)/,
    ],
    ["ref: 12\nversion: 1.0.0\n", "ref", /field "ref": 12 is a YAML number \(read as 12\), not a string/],
    ["ref: abc\nversion: v1.0.0\n", "version", /"v1.0.0" is not a strict semver/],
    [
      "ref: abc\nversion: 99999999999999999999.0.0\n",
      "version",
      /field "version": "99999999999999999999\.0\.0" has a major number that is too large \(at most 9007199254740991\)$/,
    ],
    [
      "ref: abc\nversion: 1.9007199254740992.0-rc.1\n",
      "version",
      /field "version": "1\.9007199254740992\.0-rc\.1" has a minor number that is too large/,
    ],
    ["ref: Bad Ref\nversion: 1.0.0\n", "ref", /field "ref": "Bad Ref" is not a valid pack ref/],
    ["ref: [a]\nversion: 1.0.0\n", "ref", /a list is not a string/],
    ["ref: abc\nversion: 1.0.0\ntags: net\n", "tags", /field "tags"/],
    ["ref: abc\nversion: 1.0.0\ntags: [ok, 3]\n", "tags.1", /field "tags.1"/],
    ["ref: abc\nversion: 1.0.0\nmeta: [1]\n", "meta", /field "meta"/],
    ["ref: abc\nversion: 1.0.0\nlabel: { a: 1 }\n", "label", /field "label"/],
    [
      "ref: abc\nversion: 1.0.0\ndependencies: ['Core']\n",
      "dependencies.0",
      /"Core" does not start with a valid pack ref/,
    ],
    [
      "ref: abc\nversion: 1.0.0\ndependencies: [core, 'net@>>1']\n",
      "dependencies.1",
      /invalid semver range ">>1"/,
    ],
    ["ref: abc\nversion: 1.0.0\ndependencies: ['net@']\n", "dependencies.0", /invalid semver range/],
    ["ref: abc\nversion: 1.0.0\ndependencies: [abc]\n", "dependencies.0", /cannot depend on itself/],
    ["ref: abc\nversion: 1.0.0\ndependencies: [core, 'core@1.x']\n", "dependencies.1", /listed twice/],
  ])("refuses %j naming the field %s", (yaml, field, message) => {
    const err = failure(yaml);
    expect(err.code).toBe("EMANIFEST");
    expect(err.details?.field).toBe(field);
    expect(err.message).toMatch(/^pack\.yaml: /);
    expect(err.message).toMatch(message);
    // every refusal says what to do
    expect(err.hint).toBeTruthy();
  });

  it.each([
    ["a list", "- ref: abc\n- version: 1.0.0\n", /must be a mapping/],
    ["a scalar", "just text\n", /must be a mapping/],
    ["an empty file", "", /must be a mapping/],
    [
      "duplicate keys",
      "ref: abc\nversion: 1.0.0\nref: def\n",
      /invalid YAML \(line 3, column 1\): a key is given twice; give each key once$/,
    ],
    [
      "several documents",
      "ref: abc\nversion: 1.0.0\n---\nref: def\n",
      /invalid YAML \(line 3, column 1\): more than one YAML document .*; pack\.yaml holds one mapping$/,
    ],
    ["broken YAML", "ref: abc\nversion: [1.0.0\n", /invalid YAML/],
    ["invalid UTF-8", Buffer.from([0x72, 0x65, 0x66, 0x3a, 0x20, 0xff, 0xfe, 0x0a]), /not valid UTF-8/],
    [
      "too many bytes",
      `ref: abc\nversion: 1.0.0\ndescription: "${"x".repeat(1024 * 1024)}"\n`,
      /larger than 1048576 bytes/,
    ],
  ])("refuses %s as a whole file", (_what, yaml, message) => {
    const err = failure(yaml);
    expect(err.code).toBe("EMANIFEST");
    expect(err.details?.field).toBeNull();
    expect(err.message).toMatch(message);
  });

  it("refuses a NUL or a lone surrogate in a stored text field (a store would refuse or change it), naming the field", () => {
    const nul = failure('ref: abc\nversion: 1.0.0\nlabel: "a\\0b"\n');
    expect({ code: nul.code, field: nul.details?.field, message: nul.message, hint: nul.hint }).toEqual({
      code: "EMANIFEST",
      field: "label",
      message: 'pack.yaml: field "label": holds a NUL character (\\0), which no text field may hold',
      hint: 'remove the \\0 from "label" in pack.yaml',
    });
    const lone = failure('ref: abc\nversion: 1.0.0\ndescription: "x\\ud800y"\n');
    expect({ code: lone.code, field: lone.details?.field }).toEqual({
      code: "EMANIFEST",
      field: "description",
    });
    expect(lone.message).toMatch(/lone UTF-16 surrogate/);
    // a pair is a character; JSON-stored fields (meta) keep whatever they hold
    expect(
      parseManifest('ref: abc\nversion: 1.0.0\nlabel: "\\ud83d\\ude00"\nmeta: {k: "a\\0b"}\n'),
    ).toMatchObject({ label: "😀", meta: { k: "a\0b" } });
  });

  it("refuses YAML tags (a Buffer, Set or Date would be stored as JSON's {}), and nesting too deep to parse", () => {
    for (const [value, tag] of [
      ["!!binary aGVsbG8=", "!!binary"],
      ["!!set {x}", "!!set"],
      ["!!timestamp 2001-12-14", "!!timestamp"],
      ["!foo bar", "!foo"],
    ]) {
      const err = failure(`ref: abc\nversion: 1.0.0\nmeta: {a: ${value}}\n`);
      expect({ code: err.code, message: err.message }).toEqual({
        code: "EMANIFEST",
        message: `pack.yaml: invalid YAML (line 3, column 11): the YAML tag ${tag} is not supported; pack.yaml holds plain values (strings, numbers, booleans, lists and mappings)`,
      });
    }
    // the core schema's own tags are plain values
    expect(parseManifest('ref: abc\nversion: !!str 1.0.0\nmeta: !!map {n: !!int "5"}\n')).toMatchObject({
      version: "1.0.0",
      meta: { n: 5 },
    });
    const deep = failure(`ref: abc\nversion: 1.0.0\nconf_schema: ${"[".repeat(5000)}${"]".repeat(5000)}\n`);
    expect(deep.code).toBe("EMANIFEST");
    expect(deep.message).toMatch(
      /^pack\.yaml: invalid YAML \(line 3, column \d+\): lists or mappings are nested too deeply$/,
    );
  });

  it("refuses an alias bomb instead of expanding it", () => {
    const lines = ["ref: abc", "version: 1.0.0", "a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i <= 12; i++)
      lines.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(", ")}]`,
      );
    const err = failure(lines.join("\n") + "\n");
    expect(err.code).toBe("EMANIFEST");
    expect(err.message).toMatch(/alias/i);
  });

  it("refuses a missing, linked or oversized pack.yaml on disk", async () => {
    await expect(loadManifest(work.dir)).rejects.toMatchObject({ code: "EMANIFEST", message: /not found/ });
    writeFileSync(join(work.dir, "real.yaml"), "ref: abc\nversion: 1.0.0\n");
    symlinkSync(join(work.dir, "real.yaml"), join(work.dir, "pack.yaml"));
    await expect(loadManifest(work.dir)).rejects.toMatchObject({
      code: "EMANIFEST",
      message: /^pack\.yaml: is a symbolic link, not a plain file$/,
    });
    // said by what it is, not by a (staging) path the user never saw
    mkdirSync(join(work.dir, "dir-pack", "pack.yaml"), { recursive: true });
    await expect(loadManifest(join(work.dir, "dir-pack"))).rejects.toMatchObject({
      code: "EMANIFEST",
      message: "pack.yaml: is a directory, not a plain file",
    });
    const big = pack(join(work.dir, "big"), Buffer.alloc(1024 * 1024 + 1, 0x20));
    await expect(loadManifest(big)).rejects.toMatchObject({
      code: "EMANIFEST",
      path: join(big, "pack.yaml"),
    });
  });
});

describe("parseDependency", () => {
  it("splits ref and range", () => {
    expect(parseDependency("core")).toEqual({ ref: "core", range: "*" });
    expect(parseDependency("core@>=1.0.0 <2.0.0")).toEqual({ ref: "core", range: ">=1.0.0 <2.0.0" });
    expect(() => parseDependency("core@nope")).toThrow(/invalid semver range/);
  });
});

describe("findPackRoot", () => {
  const yaml = "ref: abc\nversion: 1.0.0\n";

  it("prefers pack.yaml at the top, then pack/pack.yaml", async () => {
    pack(join(work.dir, "pack"), yaml);
    expect(await findPackRoot(work.dir)).toBe(join(work.dir, "pack"));
    pack(work.dir, yaml);
    expect(await findPackRoot(work.dir)).toBe(work.dir);
  });

  it("accepts exactly one subdirectory holding a pack (the GitHub tarball layout), ignoring .git", async () => {
    pack(join(work.dir, "repo-0123abc"), yaml);
    pack(join(work.dir, ".git"), yaml);
    mkdirSync(join(work.dir, "docs"));
    writeFileSync(join(work.dir, "README.md"), "hi");
    expect(await findPackRoot(work.dir)).toBe(join(work.dir, "repo-0123abc"));
  });

  it("refuses several candidates, listing them", async () => {
    pack(join(work.dir, "b"), yaml);
    pack(join(work.dir, "a"), yaml);
    const attempt = findPackRoot(work.dir);
    await expect(attempt).rejects.toMatchObject({
      code: "EMANIFEST",
      details: { candidates: expect.arrayContaining(["a", "b"]) },
      // not only "point at the pack's own directory": a git URL or an archive cannot be narrowed
      hint: expect.stringMatching(/a git repository or an archive cannot be narrowed to a subdirectory/),
    });
    await expect(attempt).rejects.toThrow(/several subdirectories: a, b/);
  });

  it("refuses a tree without pack.yaml, a linked pack.yaml, and a missing directory", async () => {
    mkdirSync(join(work.dir, "deeper", "still"), { recursive: true });
    writeFileSync(join(work.dir, "deeper", "still", "pack.yaml"), yaml); // two levels down does not count
    await expect(findPackRoot(work.dir)).rejects.toMatchObject({ code: "EMANIFEST", message: /not found/ });
    symlinkSync(join(work.dir, "deeper", "still", "pack.yaml"), join(work.dir, "pack.yaml"));
    await expect(findPackRoot(work.dir)).rejects.toMatchObject({
      code: "EMANIFEST",
      message: /^pack\.yaml: is a symbolic link, not a plain file$/,
    });
    await expect(findPackRoot(join(work.dir, "absent"))).rejects.toMatchObject({ code: "ENOENT" });
  });
});
