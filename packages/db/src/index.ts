// Public surface of @attune/db (see README.md and docs/CONTRACTS.md).
export type { Db, DbTx, TransactionOptions } from "./client";
export {
  connectDatabase,
  createClient,
  openDatabase,
  prepareDatabase,
  type OpenedDatabase,
  type PreparedDatabase,
} from "./open";
export { resolveDatabaseUrl, providerOf, redactUrl, SQLITE_BUSY_TIMEOUT_MS, type Provider } from "./url";
export { migrate, migrationStatus } from "./migrate";
export { withTransaction } from "./transaction";
export { acquirePostgresLock, advisoryKey, type HeldLock } from "./lock";
export {
  repositories,
  IdentityRepository,
  InstallEventRepository,
  PackInstallationRepository,
  PackRepository,
  TokenRepository,
  type PackFilter,
  type Repositories,
} from "./repos";
export * from "./types";
export {
  openInstallationLister,
  type InstallationLister,
  type ListedInstallation,
  type ListedPack,
  type FoundPack,
} from "./direct/installation-lister";
export { openDirectWriter, type DirectWriter, type InstallCommit } from "./direct/writer";
