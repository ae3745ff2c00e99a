import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { makeBareRepo, writeTree } from "@attune/test-utils";

export function packYaml(ref: string, version: string, extra = ""): string {
  return `ref: ${ref}\nversion: ${version}\nlabel: ${ref} pack\ndescription: test pack ${ref}\n${extra}`;
}

/** A pack directory `<root>/<name>` holding pack.yaml and a couple of files. */
export function makePackDir(
  root: string,
  ref: string,
  version: string,
  files: Record<string, string> = {},
): string {
  const dir = path.join(root, `${ref}-${version}-src`);
  writeTree(dir, {
    "pack.yaml": packYaml(ref, version),
    "actions/hello.yaml": `name: hello\nrunner: shell\n`,
    "actions/hello.sh": "#!/bin/sh\necho hello\n",
    ...files,
  });
  return dir;
}

/** A .tar.gz of `dir`'s contents, made by the system tar (a real archive, as users upload them). */
export function makeTarGz(dir: string, out: string): Buffer {
  fs.mkdirSync(path.dirname(out), { recursive: true });
  execFileSync("tar", ["-czf", out, "-C", dir, "."]);
  return fs.readFileSync(out);
}

/** `<root>/<name>.git` with tags v1.0.0 and v2.0.0 of pack `ref`. */
export function makePackRepo(root: string, name: string, ref: string): string[] {
  return makeBareRepo(root, name, [
    { files: { "pack.yaml": packYaml(ref, "1.0.0"), "actions/a.yaml": "name: a\n" }, tag: "v1.0.0" },
    { files: { "pack.yaml": packYaml(ref, "2.0.0"), "actions/b.yaml": "name: b\n" }, tag: "v2.0.0" },
  ]);
}

/** Every file under `dir`, relative, sorted (to compare trees). */
export function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((d) => d.isFile())
    .map((d) => path.relative(dir, path.join(d.parentPath, d.name)))
    .sort();
}
