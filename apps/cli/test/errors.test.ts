import { describe, expect, it } from "@jest/globals";
import { CliError, exitCodeFor, renderError } from "../src/errors";

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

describe("exitCodeFor", () => {
  const coded = (code: string, details?: Record<string, unknown>) =>
    Object.assign(new Error(code), { code, hint: undefined, details });
  it("an invalid value of something the user typed is a usage error (2), local or remote", () => {
    expect(exitCodeFor(coded("EINVALID_CHECKSUM", { field: "checksum" }))).toBe(2);
    expect(exitCodeFor(coded("EINVALID_INPUT", { field: "refSpec" }))).toBe(2);
    expect(exitCodeFor(coded("EINVALID_VERSION", { field: "version" }))).toBe(2);
    expect(exitCodeFor(coded("EINVALID_INPUT", { errors: [{ field: "ref_spec" }] }))).toBe(2);
  });
  it("an invalid value the user did not type (a registry's checksum) stays a failure (1)", () => {
    expect(exitCodeFor(coded("EINVALID_CHECKSUM", { field: "registry checksum" }))).toBe(1);
    expect(exitCodeFor(coded("EMANIFEST", { field: "ref" }))).toBe(1);
    expect(exitCodeFor(coded("EINTEGRITY"))).toBe(3);
    expect(exitCodeFor(new Error("plain"))).toBe(1);
  });
});
