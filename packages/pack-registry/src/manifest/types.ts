export interface PackDependency {
  ref: string;
  /** a semver range; "*" when the manifest names only the ref */
  range: string;
}

export interface PackManifest {
  ref: string;
  version: string;
  /** `label`, else the legacy `name`, else the ref */
  label: string;
  description?: string;
  author?: string;
  email?: string;
  license?: string;
  /** `tags`, else the legacy `keywords` */
  tags: string[];
  conf_schema?: unknown;
  meta?: Record<string, unknown>;
  runtime_deps: string[];
  dependencies: PackDependency[];
}
