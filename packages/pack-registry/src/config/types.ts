export interface RegistryConfig {
  name: string;
  /** https/http URL of an index.json, or a local path / file:// URL to one */
  url: string;
  /** lower is searched first */
  priority: number;
  enabled: boolean;
  /** sent only to the registry's own origin (e.g. Authorization) */
  headers?: Record<string, string>;
}

/** `$ATTUNE_HOME/config.yaml`. Unknown keys are kept (other parts of the product own them). */
export interface AttuneConfigFile {
  registries?: RegistryConfig[];
  allow_http?: boolean;
  allowed_private_hosts?: string[];
  local_source_roots?: string[];
  index_cache_ttl_seconds?: number;
  [k: string]: unknown;
}
