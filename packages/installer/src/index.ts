// Public surface of @attune/installer (see README.md and docs/CONTRACTS.md).
export { Installer, openInstaller, readInstallerSettings } from "./installer";
export { resolveSettings, type InstallerOptions, type ResolvedSettings } from "./settings";
export { toDependencyWarningsJson, toEventJson, toInstallationJson, toPackJson } from "./serialize";
export type { DependencyWarningsJson, EventRowLike, InstallationRowLike, PackRowLike } from "./serialize";
export type { UninstallOptions } from "./uninstall";
export type { CrashPoint } from "./fault";
export * from "./types";
