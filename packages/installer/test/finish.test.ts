import { describe, expect, it } from "@jest/globals";
import { ErrorCodes, ioError } from "@attune/pack-storage";
import { filesLeft } from "../src/finish";

describe("filesLeft: an uninstall recorded whose files could not be removed", () => {
  it("says the database part is done, keeps the cause's code and hint, and that the next command finishes", () => {
    const cause = ioError(
      Object.assign(new Error("EPERM: operation not permitted"), { code: "EPERM" }),
      "/h/packs/core-1.0.0",
      "cannot uninstall",
    );
    const e = filesLeft("core", cause);
    expect(e.code).toBe(ErrorCodes.EIO);
    expect(e.message).toBe(
      "pack 'core' is uninstalled in the database, but its files could not be removed: cannot uninstall /h/packs/core-1.0.0: EPERM: operation not permitted",
    );
    expect(e.hint).toMatch(
      /chattr -i\); the next install or uninstall on this store \(of any pack\), or the next start, removes them once that is mended$/,
    );
    expect(e.details).toMatchObject({ ref: "core", filesLeft: true, syscallCode: "EPERM" });
    expect(e.cause).toBe(cause);
  });
});
