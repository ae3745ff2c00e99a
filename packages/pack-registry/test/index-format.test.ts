import { describe, expect, it } from "@jest/globals";
import { parseIndex } from "../src/registry-index/schema";

import { entry, H } from "./index-fixtures";

const index = (packs: unknown[], over: Record<string, unknown> = {}) => ({
  registry_name: "Example",
  registry_url: "https://registry.example.com",
  version: "1.0",
  last_updated: "2026-01-01T00:00:00Z",
  packs,
  ...over,
});

function failure(json: unknown): { code?: string; message: string; details?: Record<string, unknown> } {
  try {
    parseIndex(json, "test-index");
  } catch (e) {
    return e as { code: string; message: string };
  }
  throw new Error("expected EINDEX");
}

describe("parseIndex", () => {
  it("accepts the documented format, several versions of one ref, and lower-cases checksums", () => {
    const idx = parseIndex(
      index([entry(), entry({ version: "1.1.0" }), entry({ ref: "other", label: undefined })]),
    );
    expect(idx.packs).toHaveLength(3);
    expect(idx.packs[0].install_sources[1].checksum).toBe(`sha256:${H}`);
    expect(idx.packs[2].label).toBe("other");
  });

  it("accepts every version pack.yaml accepts (prerelease, build metadata), and no other", () => {
    const idx = parseIndex(
      index([entry({ version: "1.0.0+b1" }), entry({ version: "2.0.0-rc.1+sha.5114f85" })]),
    );
    expect(idx.packs.map((p) => p.version)).toEqual(["1.0.0+b1", "2.0.0-rc.1+sha.5114f85"]);
    for (const version of ["v1.0.0", "1.0", "01.0.0", "1.0.0+", "1.0.0 "])
      expect(failure(index([entry({ version })])).details?.field).toBe("version");
  });

  it("refuses a version whose number semver cannot hold, saying it is too large", () => {
    // the highest semver accepts, and a numeric prerelease identifier beyond it (semver keeps it as text)
    const idx = parseIndex(
      index([entry({ version: "9007199254740991.0.0" }), entry({ version: "1.0.0-99999999999999999999" })]),
    );
    expect(idx.packs.map((p) => p.version)).toEqual(["9007199254740991.0.0", "1.0.0-99999999999999999999"]);
    for (const [version, part] of [
      ["99999999999999999999.0.0", "major"],
      ["1.9007199254740992.0", "minor"],
      ["1.0.9007199254740993+b1", "patch"],
    ]) {
      const e = failure(index([entry(), entry({ version })]));
      expect(e.code).toBe("EINDEX");
      expect(e.details?.field).toBe("version");
      expect(e.details?.entry).toBe(1);
      expect(e.message).toContain(`packs[1] (ref "example" ${version}): version: has a ${part} number`);
      expect(e.message).toMatch(/is too large \(at most 9007199254740991\)$/);
    }
  });

  it("validates dependencies as pack.yaml does", () => {
    const ok = parseIndex(index([entry({ dependencies: ["core", "other@^1.2.0"] })]));
    expect(ok.packs[0].dependencies).toEqual(["core", "other@^1.2.0"]);
    for (const [dependencies, field, text] of [
      [["core", "Bad Ref!!"], "dependencies[1]", '"Bad Ref!!" does not start with a valid pack ref'],
      [["core@not a range"], "dependencies[0]", '"core@not a range" has an invalid semver range'],
      [["core@"], "dependencies[0]", '"core@" has an invalid semver range ""'],
      [["example"], "dependencies[0]", 'the pack "example" cannot depend on itself'],
      [["core", "core@^1"], "dependencies[1]", '"core" is listed twice'],
    ] as const) {
      const e = failure(index([entry({ dependencies })]));
      expect(e.code).toBe("EINDEX");
      expect(e.details?.field).toBe(field);
      expect(e.message).toContain(`packs[0] (ref "example" 1.0.0): ${field}: ${text}`);
    }
  });

  it("takes contents items as names or objects with only a name, saying so otherwise", () => {
    const ok = parseIndex(index([entry({ contents: { actions: ["a", { name: "b" }] } })]));
    expect(ok.packs[0].contents.actions).toEqual(["a", { name: "b" }]);
    const extra = failure(index([entry({ contents: { actions: [{ name: "a", extra: 1 }] } })]));
    expect(extra.details?.field).toBe("contents.actions[0].extra");
    expect(extra.message).toMatch(/contents\.actions\[0\]\.extra: is not a known field/);
    for (const item of [1, null, ["a"], { label: "a" }]) {
      const e = failure(index([entry({ contents: { sensors: [item] } })]));
      expect(e.details?.field).toBe("contents.sensors[0]");
      expect(e.message).toMatch(/contents\.sensors\[0\]: must be a name, or an object with a "name"/);
    }
    const empty = failure(index([entry({ contents: { rules: [{ name: "" }] } })]));
    expect(empty.details?.field).toBe("contents.rules[0].name");
  });

  it.each([
    [index([], { version: "2.0" }), "version", ""],
    [index([], { last_updated: "yesterday" }), "last_updated", ""],
    [index([], { extra: 1 }), "extra", ""],
    [{ ...index([]), packs: undefined }, "packs", ""],
    [
      index([
        entry(),
        entry({
          ref: "bad",
          install_sources: [{ type: "git", url: "https://x/y.git", ref: "v1", checksum: "sha256:abc" }],
        }),
      ]),
      "install_sources[0].checksum",
      'packs[1] (ref "bad" 1.0.0)',
    ],
    [index([entry({ install_sources: [] })]), "install_sources", "packs[0]"],
    [
      index([
        entry({
          install_sources: [
            { type: "git", url: "https://x/y.git", ref: "--upload-pack=x", checksum: `sha256:${H}` },
          ],
        }),
      ]),
      "install_sources[0].ref",
      "packs[0]",
    ],
    [
      index([entry({ install_sources: [{ type: "svn", url: "https://x/y", checksum: `sha256:${H}` }] })]),
      "install_sources[0].type",
      "packs[0]",
    ],
    [
      index([
        entry({ install_sources: [{ type: "archive", url: "file:///etc/passwd", checksum: `sha256:${H}` }] }),
      ]),
      "install_sources[0].url",
      "packs[0]",
    ],
    [
      index([
        entry({
          install_sources: [{ type: "archive", url: "https://x/a.tgz", checksum: `sha256:${H}`, token: "t" }],
        }),
      ]),
      "install_sources[0].token",
      "packs[0]",
    ],
    [index([entry({ ref: "Bad_Ref" })]), "ref", "packs[0]"],
    [index([entry({ version: "1.0" })]), "version", "packs[0]"],
    [index([entry({ keywords: "a,b" })]), "keywords", "packs[0]"],
    [index([entry({ contents: { actions: [1] } })]), "contents.actions[0]", "packs[0]"],
  ])("rejects an invalid index naming the entry and field (%#)", (json, field, where) => {
    const e = failure(json);
    expect(e.code).toBe("EINDEX");
    expect(e.details?.field).toBe(field);
    expect(e.message).toContain("test-index");
    expect(e.message).toContain(where);
  });

  it("names an unknown field itself (not the entry's root), and the others found with it", () => {
    const e = failure(index([entry({ extra: 1 })]));
    expect(e.code).toBe("EINDEX");
    expect(e.details?.field).toBe("extra");
    expect(e.message).toMatch(
      /: packs\[0\] \(ref "\w+" 1\.0\.0\): extra: is not a known field; remove it or check its spelling$/,
    );
    const two = failure(index([entry({ extra: 1, colour: 2 })]));
    expect(two.message).toMatch(/: extra: is not a known field \(nor "colour"\); remove it/);
    const source = failure(
      index([
        entry({
          install_sources: [
            { type: "archive", url: "https://e.example/p.tgz", checksum: `sha256:${H}`, sha: 1 },
          ],
        }),
      ]),
    );
    expect(source.details?.field).toBe("install_sources[0].sha");
  });

  it("refuses an install source URL with credentials, without echoing them", () => {
    const e = failure(
      index([
        entry({
          install_sources: [
            { type: "archive", url: "https://u:hunter2@e.example/p.tgz", checksum: `sha256:${H}` },
          ],
        }),
      ]),
    );
    expect(e.code).toBe("EINDEX");
    expect(e.message).toMatch(/install_sources.*must not contain a user name or password/);
    expect(e.message).not.toContain("hunter2");
  });

  it.each(["archive", "git"])(
    "refuses a %s install source URL with port 0 when the index is read",
    (type) => {
      const e = failure(
        index([
          entry({
            install_sources: [
              type === "git"
                ? { type, url: "https://e.example:0/p.git", ref: "v1.0.0", checksum: `sha256:${H}` }
                : { type, url: "https://e.example:0/p.tgz", checksum: `sha256:${H}` },
            ],
          }),
        ]),
      );
      expect(e.code).toBe("EINDEX");
      expect(e.message).toMatch(/install_sources\[0\]\.url.*has port 0, which is not a port/);
    },
  );

  it("rejects a duplicate ref+version, with a hint", () => {
    const e = failure(index([entry(), entry({ label: "again" })])) as ReturnType<typeof failure> & {
      hint?: string;
    };
    expect(e.code).toBe("EINDEX");
    expect(e.message).toMatch(/packs\[1\].*duplicate/);
    expect(e.hint).toMatch(/^fix the registry index .*listed once/);
  });

  it("refuses a git source URL with a #fragment when the index is read (no install of it could work)", () => {
    const e = failure(
      index([
        entry({
          install_sources: [
            { type: "git", url: "https://git.example/p.git#v1", ref: "v1.0.0", checksum: `sha256:${H}` },
          ],
        }),
      ]),
    );
    expect(e.code).toBe("EINDEX");
    expect(e.message).toMatch(/install_sources.*url.*must not have a #fragment/);
    const q = failure(
      index([
        entry({
          install_sources: [
            { type: "git", url: "https://git.example/p.git?t=1", ref: "v1.0.0", checksum: `sha256:${H}` },
          ],
        }),
      ]),
    );
    expect(q.message).toMatch(/install_sources.*url.*must not have a \?query/);
    // an archive URL may have one (it is not sent, and names nothing)
    expect(() =>
      parseIndex(
        index([
          entry({
            install_sources: [{ type: "archive", url: "https://e.example/p.tgz#x", checksum: `sha256:${H}` }],
          }),
        ]),
      ),
    ).not.toThrow();
  });
});
