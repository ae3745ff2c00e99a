export { extractArchive, type ExtractOptions, type ExtractResult } from "./extract";
export { DEFAULT_EXTRACT_LIMITS, resolveLimits, type ExtractLimits } from "./limits";
export { detectArchiveType, archiveTypeFromName, ARCHIVE_EXTENSIONS, type ArchiveType } from "./detect";
export { intoFreshDir } from "./fresh-dir";
