import { createRequire } from "node:module";
import type * as YamlModule from "yaml";

const require = createRequire(import.meta.url);
let yaml: typeof YamlModule | undefined;

/**
 * The `yaml` package, loaded on first use: most commands read no YAML (config.yaml is optional and
 * list/show/verify never parse a pack.yaml), and importing it costs ~0.1 s of start-up. `require`
 * keeps the callers synchronous; the package ships CommonJS.
 */
export function loadYaml(): typeof YamlModule {
  return (yaml ??= require("yaml") as typeof YamlModule);
}
