/**
 * `attune pack checksum`: needs only @attune/pack-storage (no database, no network), so this
 * chunk stays small; the whole-process benchmark measures it.
 */
import fs from "node:fs/promises";
import { calculateDirectoryChecksum, calculateFileChecksum } from "@attune/pack-storage";
import { CliError } from "../errors";
import type { GlobalArgs } from "../globals";
import { keyValues, type CommandResult } from "../output";
import { createProgress, progressEnabled } from "../progress";

const ARCHIVE_RE = /\.(zip|tar\.gz|tgz|tar)$/i;

export interface ChecksumArgs extends GlobalArgs {
  path: string;
  json?: boolean;
}

export async function packChecksum(argv: ChecksumArgs): Promise<CommandResult> {
  const target = argv.path;
  if (typeof target !== "string" || target.trim() === "")
    throw new CliError("EUSAGE", "the path is empty", {
      hint: "give the path of a pack directory or of a .tar.gz/.tgz/.tar/.zip archive",
    });
  let stat;
  try {
    // lstat: a symlinked root is refused (the checksum is of real files only).
    stat = await fs.lstat(target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT")
      throw new CliError("ENOENT", `${target}: no such file or directory`, {
        hint: "give the path of a pack directory or of a .tar.gz/.tgz/.tar/.zip archive",
      });
    throw new CliError("EIO", `cannot read ${target}: ${(err as Error).message}`, { cause: err });
  }
  let checksum: string;
  if (stat.isSymbolicLink()) {
    throw new CliError("ESYMLINK", `${target} is a symbolic link`, {
      hint: "give the real directory or file path (links are not followed)",
    });
  } else if (stat.isDirectory()) {
    const progress = createProgress(progressEnabled(Boolean(argv.quiet)));
    try {
      checksum = await calculateDirectoryChecksum(target, {
        onProgress: (p) => progress.update({ phase: "hash", bytes: p.bytes, files: p.files }),
      });
    } finally {
      progress.done();
    }
  } else if (stat.isFile()) {
    // a template for a file that is no archive would carry a checksum no source can ever match
    if (argv.json && !ARCHIVE_RE.test(target))
      throw new CliError(
        "EUSAGE",
        `--json: ${target} is neither a pack directory nor a .tar.gz/.tgz/.tar/.zip archive`,
        {
          hint: "give the pack directory (git source template) or its archive (archive source template)",
        },
      );
    checksum = await calculateFileChecksum(target);
  } else {
    throw new CliError("ESPECIAL_FILE", `${target} is neither a directory nor a regular file`, {
      hint: "give a pack directory or an archive file",
    });
  }
  const hex = checksum.slice("sha256:".length);
  if (argv.json) {
    const template =
      ARCHIVE_RE.test(target) && stat.isFile()
        ? { type: "archive", url: "<https URL of this archive>", checksum }
        : { type: "git", url: "<https URL of the git repository>", ref: "<tag, branch or commit>", checksum };
    // --json is the index template itself, whatever -o says: it is meant to be pasted into index.json.
    return { data: template, table: () => JSON.stringify(template, null, 2), format: "json" };
  }
  return {
    data: { checksum, path: target },
    table: () =>
      keyValues([
        ["path", target],
        ["sha256", hex],
        ["checksum", checksum],
      ]),
  };
}
