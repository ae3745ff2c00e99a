import { describe, expect, it } from "@jest/globals";
import fs from "node:fs";
import path from "node:path";
import { makeDirs, makeDirsSync } from "../src/index";
import { perTestCleanup, tmp } from "./helpers";

const perTest = perTestCleanup();
function scratch(): string {
  const t = tmp("attune-mkdirs-");
  perTest.later(t.cleanup);
  return t.dir;
}
const modeOf = (p: string) => fs.statSync(p).mode & 0o777;

describe("makeDirs / makeDirsSync", () => {
  it("creates every missing parent with the mode, and leaves existing ones alone", async () => {
    const root = scratch();
    fs.chmodSync(root, 0o755);
    const deep = path.join(root, "a", "b", "c");
    await makeDirs(deep, 0o700);
    for (const d of ["a", "a/b", "a/b/c"]) expect(modeOf(path.join(root, d))).toBe(0o700 & ~process.umask());
    expect(modeOf(root)).toBe(0o755);
    makeDirsSync(path.join(root, "a", "b", "d"), 0o755);
    expect(fs.readdirSync(path.join(root, "a", "b")).sort()).toEqual(["c", "d"]);
  });

  it("accepts a directory that exists, and a relative path", async () => {
    const root = scratch();
    await makeDirs(root);
    makeDirsSync(root);
    const cwd = process.cwd();
    process.chdir(root);
    try {
      makeDirsSync(path.join("rel", "x"));
    } finally {
      process.chdir(cwd);
    }
    expect(fs.statSync(path.join(root, "rel", "x")).isDirectory()).toBe(true);
  });

  it("refuses a file in the way: EEXIST for the path itself, ENOTDIR for a parent", async () => {
    const root = scratch();
    const file = path.join(root, "file");
    fs.writeFileSync(file, "x");
    await expect(makeDirs(file)).rejects.toMatchObject({ code: "EEXIST" });
    expect(() => makeDirsSync(path.join(file, "sub", "deeper"))).toThrow(
      expect.objectContaining({ code: "ENOTDIR" }),
    );
    expect(fs.readFileSync(file, "utf8")).toBe("x");
  });

  it("refuses a dangling link in the way, naming it, creating nothing", () => {
    const root = scratch();
    fs.symlinkSync(path.join(root, "nowhere"), path.join(root, "link"));
    expect(() => makeDirsSync(path.join(root, "link", "x"))).toThrow(
      expect.objectContaining({ code: "EEXIST", path: path.join(root, "link") }),
    );
    expect(fs.existsSync(path.join(root, "nowhere"))).toBe(false);
  });
  // the procfs case (Node's recursive mkdir loops there for ever) is in dist.test.ts: it runs in a
  // child process with a time limit, so a regression fails instead of hanging the suite
});
