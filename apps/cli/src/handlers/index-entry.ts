import { buildIndexEntry, mergeIndexEntry } from "@attune/pack-registry";
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
