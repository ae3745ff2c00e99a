import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { writeTree } from "@attune/test-utils";

export interface PackSpec {
  ref: string;
  version: string;
  dependencies?: string[];
  runtimeDeps?: string[];
  files?: Record<string, string>;
}

/** pack.yaml plus a few content files, as a file map */
export function packFiles(spec: PackSpec): Record<string, string> {
  const lines = [
    `ref: ${spec.ref}`,
    `version: ${spec.version}`,
    `label: ${spec.ref} pack`,
    `description: test pack ${spec.ref}`,
    `author: Tester`,
    `license: MIT`,
    `tags: [test]`,
  ];
  if (spec.dependencies?.length) lines.push(`dependencies:`, ...spec.dependencies.map((d) => `  - "${d}"`));
  if (spec.runtimeDeps?.length) lines.push(`runtime_deps:`, ...spec.runtimeDeps.map((d) => `  - "${d}"`));
  return {
    "pack.yaml": lines.join("\n") + "\n",
    "actions/hello.yaml": `name: hello\nversion: ${spec.version}\n`,
    "actions/hello.py": `print("hello from ${spec.ref} ${spec.version}")\n`,
    ...(spec.files ?? {}),
  };
}

export function writePack(dir: string, spec: PackSpec): string {
  fs.mkdirSync(dir, { recursive: true });
  writeTree(dir, packFiles(spec));
  return dir;
}

/** a .tar.gz of `srcDir`; with `prefix` the files sit under one top directory (GitHub tarball layout) */
export function makeTarGz(srcDir: string, outFile: string, prefix?: string): string {
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  const args = prefix
    ? ["-czf", outFile, "-C", srcDir, `--transform=s,^\\.,${prefix},`, "."]
    : ["-czf", outFile, "-C", srcDir, "."];
  execFileSync("tar", args);
  return outFile;
}

/** the env a test installer needs to talk to servers on 127.0.0.1 */
export function loopbackEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    ATTUNE_ALLOW_HTTP: "true",
    ATTUNE_ALLOWED_PRIVATE_HOSTS: "127.0.0.1,localhost",
    ...extra,
  };
}
