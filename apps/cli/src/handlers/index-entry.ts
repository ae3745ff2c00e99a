import { buildIndexEntry, mergeIndexEntry } from "@attune/pack-registry";
import { AttuneError, renameField } from "@attune/pack-storage";
import type { GlobalArgs } from "../globals";
import { keyValues, type CommandResult } from "../output";

interface IndexEntryArgv extends GlobalArgs {
  path: string;
  gitUrl?: string;
  gitRef?: string;
  archiveUrl?: string;
  archiveFile?: string;
  indexFile?: string;
}

export async function packIndexEntry(argv: IndexEntryArgv): Promise<CommandResult> {
  const entry = await buildIndexEntry(argv.path, {
    gitUrl: argv.gitUrl,
    gitRef: argv.gitRef,
    archiveUrl: argv.archiveUrl,
    archiveFile: argv.archiveFile,
  }).catch((err: unknown) => {
    throw inFlagTerms(err);
  });
  const merged = argv.indexFile ? await mergeIndexEntry(argv.indexFile, entry) : undefined;
  const e = entry as unknown as Record<string, unknown> & { install_sources: Array<Record<string, unknown>> };
  return {
    data: entry,
    table: () =>
      keyValues([
        ["ref", e.ref as string],
        ["version", e.version as string],
        ...e.install_sources.map((src): [string, string] => [
          `${src.type} source`,
          `${src.url}${src.ref ? ` @ ${src.ref}` : ""} ${src.checksum}`,
        ]),
        ["merged into", argv.indexFile ? `${argv.indexFile}${merged?.replaced ? " (replaced)" : ""}` : null],
      ]),
  };
}

const FLAGS: Record<string, string> = {
  gitUrl: "--git-url",
  gitRef: "--git-ref",
  archiveUrl: "--archive-url",
  archiveFile: "--archive-file",
};

/** The library names its options (gitRef); the user typed flags (--git-ref). */
function inFlagTerms(err: unknown): unknown {
  const field = err instanceof AttuneError ? err.details?.field : undefined;
  if (!(err instanceof AttuneError) || typeof field !== "string" || !FLAGS[field]) return err;
  const rename = (text: string) =>
    text.replace(/\b(gitUrl|gitRef|archiveUrl|archiveFile)\b/g, (k) => FLAGS[k]);
  return renameField(err, FLAGS[field], rename);
}
