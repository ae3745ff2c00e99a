import { SettingChecks } from "@attune/pack-storage";
import { limitsFromConfig, type ExtractLimits } from "../extract/limits";
import { OutboundPolicy } from "../policy/outbound-policy";
import { registriesFromEnv } from "./config-file";
import type { AttuneConfigFile, RegistryConfig } from "./types";

/** The settings this package reads from the environment over config.yaml, each checked. */
export interface PackSettings {
  policy: OutboundPolicy;
  /** the registries ATTUNE_REGISTRIES names, or undefined when it is unset (config.yaml's apply) */
  envRegistries: RegistryConfig[] | undefined;
  /** the size caps set (the defaults apply to the others) */
  limits: Partial<ExtractLimits>;
}

/**
 * Read the outbound policy, ATTUNE_REGISTRIES and the size caps from `env` over `cfg`, reporting
 * every bad setting at once (ECONFIG; several: `details.problems`, one per setting) rather than
 * the first. The one place that knows which settings these are: the installer, `config show` and
 * the CLI's report of a bad config.yaml all read them here.
 */
export function readPackSettings(cfg: AttuneConfigFile, env: NodeJS.ProcessEnv): PackSettings {
  const checks = new SettingChecks();
  const policy = checks.read(() => OutboundPolicy.fromConfig(cfg, env));
  const envRegistries = checks.read(() => registriesFromEnv(env));
  const limits = checks.read(() => limitsFromConfig(cfg, env));
  checks.done(); // past it, every reading succeeded
  return { policy: policy as OutboundPolicy, envRegistries, limits: limits ?? {} };
}
