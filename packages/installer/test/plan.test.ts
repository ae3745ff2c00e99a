import { describe, expect, it } from "@jest/globals";
import type { FetchResult } from "@attune/pack-registry";
import { checkDependencies } from "../src/dependencies";
import { checkExpectedChecksum, decide } from "../src/install-plan";
import type { InstalledRecord } from "../src/record";

const A = `sha256:${"a".repeat(64)}` as const;
const B = `sha256:${"b".repeat(64)}` as const;
const C = `sha256:${"c".repeat(64)}` as const;

const fetched = (over: Partial<FetchResult> = {}): FetchResult => ({
  sourceType: "archive",
  sourceUrl: "https://example.com/p.tgz",
  sourceRef: null,
  resolvedCommit: null,
  archiveChecksum: null,
  expectedChecksum: null,
  registryName: null,
  ...over,
});

const recorded = (version: string): InstalledRecord =>
  ({
    pack: { ref: "p", version },
    installation: { storagePath: `/x/p-${version}` },
  }) as unknown as InstalledRecord;

describe("decide", () => {
  it("first install needs nothing", () => {
    expect(decide("p", null, "1.0.0", false, false)).toMatchObject({
      action: "install",
      previousVersion: null,
      replace: false,
    });
  });
  it("the same version needs force, and names the fix", () => {
    expect(() => decide("p", recorded("1.0.0"), "1.0.0", true, false)).toThrow(
      expect.objectContaining({ code: "ECONFLICT", hint: expect.stringContaining("force") }),
    );
    expect(decide("p", recorded("1.0.0"), "1.0.0", true, true)).toMatchObject({
      action: "reinstall",
      replace: true,
    });
  });
  it("force replaces whatever is at the path, even a damaged install no longer seen as one", () => {
    expect(decide("p", recorded("1.0.0"), "1.0.0", false, true)).toMatchObject({
      action: "reinstall",
      replace: true,
    });
    expect(decide("p", null, "1.0.0", false, true)).toMatchObject({ action: "install", replace: true });
  });
  it("an unrecorded directory of the target version also needs force", () => {
    expect(() => decide("p", null, "1.0.0", true, false)).toThrow(
      expect.objectContaining({ code: "ECONFLICT" }),
    );
  });
  it("another version is an upgrade or a downgrade without force", () => {
    expect(decide("p", recorded("1.0.0"), "2.0.0", false, false)).toMatchObject({
      action: "upgrade",
      previousVersion: "1.0.0",
    });
    expect(decide("p", recorded("2.0.0"), "1.10.0", false, false)).toMatchObject({ action: "downgrade" });
  });
  it("builds of one version are ordered by their build metadata", () => {
    expect(decide("p", recorded("1.0.0+b1"), "1.0.0+b2", false, false)).toMatchObject({ action: "upgrade" });
    expect(decide("p", recorded("1.0.0+b2"), "1.0.0+b1", false, false)).toMatchObject({
      action: "downgrade",
      previousVersion: "1.0.0+b2",
    });
    expect(decide("p", recorded("1.0.0+20261201"), "1.0.0+20260101", false, false)).toMatchObject({
      action: "downgrade",
    });
    expect(decide("p", recorded("1.0.0"), "1.0.0+b1", false, false)).toMatchObject({ action: "upgrade" });
    // precedence first: a later version with an "earlier" build is still an upgrade
    expect(decide("p", recorded("1.0.0+b9"), "1.0.1+b1", false, false)).toMatchObject({ action: "upgrade" });
  });
});

describe("checkExpectedChecksum", () => {
  it("is unverified when nothing is expected", () => {
    expect(checkExpectedChecksum(A, fetched(), null)).toEqual({ verified: false, expected: null });
  });
  it("accepts the caller's directory checksum (any case) or the archive checksum", () => {
    expect(checkExpectedChecksum(A, fetched(), A)).toEqual({ verified: true, expected: A });
    expect(checkExpectedChecksum(A, fetched({ archiveChecksum: B }), B).verified).toBe(true);
  });
  it("rejects a caller checksum that matches neither", () => {
    expect(() => checkExpectedChecksum(A, fetched({ archiveChecksum: B }), C)).toThrow(
      expect.objectContaining({ code: "EINTEGRITY", expected: C }),
    );
  });
  it("a mismatch on an archive source names both values found, each with its kind", () => {
    expect(() => checkExpectedChecksum(A, fetched({ archiveChecksum: B }), C)).toThrow(
      expect.objectContaining({
        message: `checksum mismatch: expected ${C}, found archive checksum ${B} (of the archive file's bytes) and directory checksum ${A} (of the unpacked pack)`,
        details: expect.objectContaining({ directoryChecksum: A, archiveChecksum: B }),
      }),
    );
  });
  it("a mismatch on a directory or git source names the directory checksum only", () => {
    expect(() => checkExpectedChecksum(A, fetched({ sourceType: "local_directory" }), C)).toThrow(
      expect.objectContaining({ message: `checksum mismatch: expected ${C}, found ${A}` }),
    );
  });
  it("rejects a registry checksum mismatch even when the caller's matches", () => {
    expect(() => checkExpectedChecksum(A, fetched({ expectedChecksum: B, registryName: "main" }), A)).toThrow(
      expect.objectContaining({ code: "EINTEGRITY", expected: B, found: A }),
    );
  });
  it("counts a registry archive source (verified by the source before extraction) as verified", () => {
    const f = fetched({ sourceType: "registry", archiveChecksum: B, details: { installSource: "archive" } });
    expect(checkExpectedChecksum(A, f, null)).toEqual({ verified: true, expected: B });
  });
  it("treats a malformed registry checksum as an error, never a pass", () => {
    expect(() => checkExpectedChecksum(A, fetched({ expectedChecksum: "md5:abc" }), null)).toThrow(
      expect.objectContaining({ code: "EINVALID_CHECKSUM" }),
    );
  });
});

describe("checkDependencies", () => {
  const installed: Record<string, string> = { base: "1.4.0", util: "0.9.0" };
  const lookup = async (ref: string) => installed[ref] ?? null;
  it("passes when every range is satisfied (a bare ref means any version)", async () => {
    await expect(
      checkDependencies(
        "p",
        [
          { ref: "base", range: "^1.2.0" },
          { ref: "util", range: "" },
        ],
        lookup,
      ),
    ).resolves.toBeUndefined();
  });
  it("reports every missing or unsatisfied dependency at once", async () => {
    const err = await checkDependencies(
      "p",
      [
        { ref: "base", range: "^2.0.0" },
        { ref: "gone", range: "*" },
        { ref: "util", range: ">=0.1.0" },
      ],
      lookup,
    ).catch((e) => e);
    expect(err).toMatchObject({ code: "EDEPENDENCY", details: { field: "dependencies" } });
    expect(err.details.problems).toEqual([
      { ref: "base", range: "^2.0.0", installed: "1.4.0" },
      { ref: "gone", range: "*", installed: null },
    ]);
    expect(err.hint).toBe(
      "install the missing pack first: `attune pack install gone`; install a version in the range needed: `attune pack install base@^2.0.0`; or pass skip_deps (--skip-deps) to install anyway",
    );
  });
  it("with no registry to install a ref by name, the hint points at a source path or URL instead", async () => {
    const err = await checkDependencies(
      "p",
      [{ ref: "base", range: "^1.0.0" }],
      async () => null,
      false,
    ).catch((e) => e);
    expect(err.code).toBe("EDEPENDENCY");
    expect(err.hint).toBe(
      "install it first from its source (a directory, an archive or a git URL: `attune pack install <path-or-url>`; no registry is configured to install base by name), or pass skip_deps (--skip-deps) to install anyway",
    );
    // one installed at a version out of range is not "installed first"
    const wrong = await checkDependencies(
      "p",
      [{ ref: "base", range: "^1.0.0" }],
      async () => "2.0.0",
      false,
    ).catch((e) => e);
    expect(wrong.hint).toBe(
      "install a version in the range needed of it from its source (a directory, an archive or a git URL: `attune pack install <path-or-url>`; no registry is configured to install base by name), or pass skip_deps (--skip-deps) to install anyway",
    );
    const both = await checkDependencies(
      "p",
      [
        { ref: "base", range: "^1.0.0" },
        { ref: "gone", range: "*" },
      ],
      async (ref) => (ref === "base" ? "2.0.0" : null),
      false,
    ).catch((e) => e);
    expect(both.hint).toMatch(
      /^install the missing packs, and a version in the range needed of the others, first from their source /,
    );
  });
  it("words the hint by case: a wrong version is not called missing", async () => {
    const wrong = await checkDependencies(
      "p",
      [{ ref: "base", range: "^2.1.0-beta.0" }],
      async () => "1.1.0",
    ).catch((e) => e);
    expect(wrong).toMatchObject({
      code: "EDEPENDENCY",
      message: "pack 'p' needs base@^2.1.0-beta.0 (installed: 1.1.0)",
      hint: "install a version in the range needed: `attune pack install base@^2.1.0-beta.0`; or pass skip_deps (--skip-deps) to install anyway",
    });
    const missing = await checkDependencies(
      "p",
      [
        { ref: "gone", range: "" },
        { ref: "util", range: ">=1.0.0 <2" },
      ],
      async () => null,
    ).catch((e) => e);
    // a range a shell would split or redirect is quoted
    expect(missing.hint).toBe(
      "install the missing packs first: `attune pack install gone`, `attune pack install 'util@>=1.0.0 <2'`; or pass skip_deps (--skip-deps) to install anyway",
    );
  });
});
