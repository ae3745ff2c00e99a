// Public surface of @attune/db (see README.md and docs/CONTRACTS.md).
export { createClient, SQLITE_BUSY_TIMEOUT_MS, type Db, type DbTx, type TransactionOptions } from "./client";
export { openDatabase, type OpenedDatabase } from "./open";
export { resolveDatabaseUrl, providerOf, redactUrl, type Provider } from "./url";
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
} from "./read/installation-lister";
