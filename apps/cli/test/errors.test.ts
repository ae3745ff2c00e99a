import { describe, expect, it } from "@jest/globals";
import { CliError, renderError } from "../src/errors";

describe("renderError", () => {
  it("does not repeat the code a Node system error already starts its message with", () => {
    const err = Object.assign(new Error("EPERM: operation not permitted, open '/x'"), { code: "EPERM" });
    expect(renderError(err, false).split("\n")[0]).toBe("attune: EPERM: operation not permitted, open '/x'");
  });

  it("prints messages and hints on one line, with control characters shown, not obeyed", () => {
    const err = new CliError("EMANIFEST", "label \u001b[31mred\u001b[0m\nsecond line\r", {
      hint: "fix \u0007 it",
    });
    expect(renderError(err, false)).toBe(
      "attune: EMANIFEST: label \\x1b[31mred\\x1b[0m second line\\x0d\nhint: fix \\x07 it\n",
    );
  });
});
