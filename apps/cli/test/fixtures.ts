import { execFileSync } from "node:child_process";
import path from "node:path";
import { writeTree } from "@attune/test-utils";

/** A valid pack directory (pack.yaml + one action) under `dir`. */
export function makePack(
  dir: string,
  ref: string,
  version = "1.0.0",
  extra: Record<string, string> = {},
): string {
  writeTree(dir, {
    "pack.yaml": [
      `ref: ${ref}`,
      `label: ${ref} label`,
      `version: ${version}`,
      `description: test pack ${ref}`,
      "author: Tests",
      "license: MIT",
      "tags: [test]",
      "",
    ].join("\n"),
    "actions/run.sh": "#!/bin/sh\necho run\n",
    "actions/run.yaml": "name: run\nrunner_type: shell\n",
    ...extra,
  });
  return dir;
}

/** A .tar.gz of `dir`'s contents, made with the system tar. */
export function makeTarGz(dir: string, file: string): string {
  execFileSync("tar", ["-czf", file, "-C", dir, "."]);
  return path.resolve(file);
}

export const PACK_FIELDS = [
  "id",
  "ref",
  "label",
  "description",
  "version",
  "tags",
  "conf_schema",
  "meta",
  "runtime_deps",
  "dependencies",
  "created",
  "updated",
].sort();

export const INSTALLATION_FIELDS = [
  "id",
  "pack_id",
  "source_type",
  "source_url",
  "source_ref",
  "resolved_commit",
  "checksum",
  "checksum_verified",
  "installed_at",
  "installed_by",
  "installation_method",
  "storage_path",
  "meta",
  "created",
  "updated",
].sort();
