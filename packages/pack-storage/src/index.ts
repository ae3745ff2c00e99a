export * from "./errors";
export { userHomeDir } from "./home";
export { parseChecksum, type Checksum } from "./checksum/format";
export {
  calculateDirectoryChecksum,
  calculateDirectoryManifest,
  diffManifest,
  type ChecksumProgress,
  type DirectoryChecksumOptions,
  type FileManifest,
  type ManifestEntry,
} from "./checksum/directory";
export { calculateFileChecksum, verifyChecksum } from "./checksum/file";
export { kindOf as specialFileKind, specialFileError } from "./checksum/fs-io";
export { ParallelReads, type ReadFile } from "./checksum/parallel-reads";
export {
  HELPER_MIN_FILES,
  readerThreadStats,
  stopReaderThread,
  type CopyTask,
} from "./checksum/reader-thread";
export { StreamingTreeHasher, compareTreePaths, type TreeHash } from "./checksum/streaming";
export {
  isValidRef,
  isValidVersion,
  MAX_REF,
  validateRef,
  validateVersion,
  versionProblem,
  VERSION_HINT,
  type VersionProblemReason,
} from "./storage/validate";
export {
  PackStorage,
  RETIRED_GRACE_MS,
  type InstalledPack,
  type PackStorageOptions,
  type StoreLostReason,
} from "./storage/pack-storage";
export { packPathBudget, STORE_DIR } from "./storage/layout";
export { escapeName } from "./checksum/walk";
export { makeDirs, makeDirsSync } from "./make-dirs";
/** Owner tags of internal entries (`<pid>@<host>~<random>`), for layers that keep their own. */
export { isAbandoned, ownedSuffix, pidNamespace, processAlive, processStart } from "./storage/owner";
export { redactUrl, redactUrlsIn } from "./redact";
export { closest, distance } from "./suggest";
export { isWithin } from "./within";
