import type { DbTx } from "../client";
import { IdentityRepository } from "./identities";
import { PackInstallationRepository } from "./installations";
import { InstallEventRepository } from "./events";
import { PackRepository } from "./packs";
import { TokenRepository } from "./tokens";

export {
  IdentityRepository,
  PackInstallationRepository,
  InstallEventRepository,
  PackRepository,
  TokenRepository,
};
export type { PackFilter } from "./packs";

export interface Repositories {
  packs: PackRepository;
  installations: PackInstallationRepository;
  identities: IdentityRepository;
  tokens: TokenRepository;
  events: InstallEventRepository;
}

/** Repositories over a client or a transaction (no global client: the caller owns it). */
export function repositories(db: DbTx): Repositories {
  return {
    packs: new PackRepository(db),
    installations: new PackInstallationRepository(db),
    identities: new IdentityRepository(db),
    tokens: new TokenRepository(db),
    events: new InstallEventRepository(db),
  };
}
