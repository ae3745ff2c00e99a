import type { RegistryConfig } from "../config/types";
import type { OutboundPolicy } from "../policy/outbound-policy";

export interface RegistryClientOptions {
  registries: RegistryConfig[];
  policy: OutboundPolicy;
  cacheDir?: string;
  ttlSeconds?: number;
}

/** Several registries by priority, fail-closed resolution, TTL cache (work in progress). */
export class RegistryClient {
  constructor(readonly opts: RegistryClientOptions) {}
  list(): RegistryConfig[] {
    return [...this.opts.registries].sort((a, b) => a.priority - b.priority);
  }
}
