export { extractArchive, type ExtractOptions, type ExtractResult } from "./extract";
export {
  CONFIGURABLE_LIMITS,
  DEFAULT_EXTRACT_LIMITS,
  limitsFromConfig,
  resolveLimits,
  type ExtractLimits,
} from "./limits";
export { detectArchiveType, archiveTypeFromName, ARCHIVE_EXTENSIONS, type ArchiveType } from "./detect";
export { intoFreshDir } from "./fresh-dir";
export { KeptContents, KEPT_BYTES } from "./kept";
