import { describe, expect, it } from "@jest/globals";
import { AttuneError, ErrorCodes, IntegrityError, ioError, renameField } from "../src/index";

describe("renameField", () => {
  it("renames details.field, rewrites message and hint, keeps code, path, other details and the cause", () => {
    const original = new AttuneError(ErrorCodes.EINVALID_INPUT, "gitRef: must not start with '-'", {
      hint: "give gitRef as a tag or branch",
      path: "/some/pack",
      details: { field: "gitRef", ref: "-x" },
    });
    const renamed = renameField(original, "--git-ref", (t) => t.replace(/gitRef/g, "--git-ref"));
    expect(renamed).toBeInstanceOf(AttuneError);
    expect(renamed.code).toBe(ErrorCodes.EINVALID_INPUT);
    expect(renamed.message).toBe("--git-ref: must not start with '-'");
    expect(renamed.hint).toBe("give --git-ref as a tag or branch");
    expect(renamed.path).toBe("/some/pack");
    expect(renamed.details).toEqual({ field: "--git-ref", ref: "-x" });
    expect(renamed.cause).toBe(original);
    // the original is untouched
    expect(original.details).toEqual({ field: "gitRef", ref: "-x" });
  });

  it("leaves the text alone without a rewrite, and an error without a hint keeps none", () => {
    const original = new IntegrityError("sha256:" + "a".repeat(64), "sha256:" + "b".repeat(64));
    const renamed = renameField(original, "checksum");
    expect(renamed.message).toBe(original.message);
    expect(renamed.code).toBe(ErrorCodes.EINTEGRITY);
    expect(renamed.details).toMatchObject({ field: "checksum", expected: original.expected });
    const bare = renameField(new AttuneError(ErrorCodes.ENOTFOUND, "no such ref"), "refSpec");
    expect(bare.hint).toBeUndefined();
    expect(bare.details).toEqual({ field: "refSpec" });
  });
});

describe("ioError", () => {
  const sys = (code: string) => Object.assign(new Error(`${code}: some system message`), { code });
  it("gives the mend for a full disk, a read-only mount or a permission problem", () => {
    expect(ioError(sys("ENOSPC"), "/x/.journal/a.json", "cannot write").hint).toMatch(/full: free space/);
    expect(ioError(sys("EROFS"), "/x", "cannot write").hint).toMatch(/read-only/);
    expect(ioError(sys("EACCES"), "/x", "cannot write").hint).toMatch(/permissions/);
    const e = ioError(sys("ENOSPC"), "/x", "cannot write");
    expect(e.code).toBe(ErrorCodes.EIO);
    expect(e.details).toEqual({ syscallCode: "ENOSPC" });
  });
  it("adds no hint it does not have, and ENOENT stays ENOENT", () => {
    expect(ioError(sys("EBADF"), "/x", "cannot read").hint).toBeUndefined();
    expect(ioError(sys("ENOENT"), "/x", "cannot read").code).toBe(ErrorCodes.ENOENT);
  });
});
