export type { PackManifest, PackDependency } from "./types";
export { findPackRoot } from "./pack-root";
export { loadManifest, parseManifest, MAX_MANIFEST_BYTES } from "./load";
export { validateManifest, packManifestSchema } from "./schema";
export { parseDependency } from "./dependencies";
export { MANIFEST_FILE } from "./errors";
