import {
  REGISTRY_NAME_RE,
  registryUrlProblem,
  urlHasCredentials,
  isRemoteUrl,
  registriesFromEnv,
  readPackSettings,
  updateConfigFile,
  type RegistryConfig,
} from "@attune/pack-registry";
import { isAttuneError, redactUrl } from "@attune/pack-storage";
import { CliError } from "../errors";
import type { GlobalArgs } from "../globals";
import { table, type CommandResult } from "../output";
import { printable } from "../printable";
import { apiUrlPlace, httpPermission, loadSettings } from "./settings";

interface RegistryRow {
  name: string;
  url: string;
  priority: number;
  enabled: boolean;
  /** header names only: values may be credentials */
  headers: string[];
  source: "env" | "config" | "api";
}

function rows(list: RegistryConfig[], source: RegistryRow["source"]): RegistryRow[] {
  return [...list]
    .sort((a, b) => a.priority - b.priority)
    .map((r) => ({
      name: r.name,
      url: redactUrl(r.url), // a secret query value (`?token=`) is not shown, like header values
      priority: r.priority,
      enabled: r.enabled,
      headers: Object.keys(r.headers ?? {}),
      source,
    }));
}

function registryTable(list: RegistryRow[]): string {
  if (list.length === 0) return "No registries configured (attune registry add <name> <url>).\n";
  return table(
    ["name", "priority", "enabled", "source", "url"],
    list.map((r) => [r.name, r.priority, r.enabled ? "yes" : "no", r.source, r.url]),
    undefined,
    ["name", "priority", "enabled"],
  );
}

export async function registryList(argv: GlobalArgs): Promise<CommandResult> {
  const settings = await loadSettings(argv);
  if (settings.apiUrl.value) {
    // remote mode: the registries the API server searches and installs from
    const { ApiClient, apiBase } = await import("../backends/remote");
    const api = new ApiClient(
      apiBase(settings.apiUrl.value, httpPermission(settings), apiUrlPlace(settings)),
      settings.token.value,
    );
    const list = rows(await api.request<RegistryConfig[]>("GET", "/registries"), "api");
    return { data: list, table: () => registryTable(list) };
  }
  const fromEnv = registriesFromEnv(settings.env);
  // ATTUNE_REGISTRIES replaces the file's list (environment beats config.yaml).
  const list = fromEnv ? rows(fromEnv, "env") : rows(settings.file.registries ?? [], "config");
  return { data: list, table: () => registryTable(list) };
}

/** The rule of config.yaml and ATTUNE_REGISTRIES (registryUrlProblem); a bad value is a usage error (exit 2). */
function checkUrl(url: string): void {
  const problem = registryUrlProblem(url);
  if (problem)
    throw new CliError("EINVALID_INPUT", `registry url "${redactUrl(url)}" ${problem}`, {
      hint: urlHasCredentials(url)
        ? "put credentials in the registry's headers in config.yaml"
        : "give the URL of the registry's index.json (https://registry.example.com/index.json), or the absolute path of a local one",
      details: { field: "url" },
    });
}

function remoteNote(settings: Awaited<ReturnType<typeof loadSettings>>, quiet?: boolean): void {
  if (settings.apiUrl.value && !quiet)
    process.stderr.write(
      "attune: note: this edits the local config.yaml; the API server's registries are configured on the server\n",
    );
}

/** The largest priority `--priority` takes. */
const MAX_PRIORITY = 999_999_999;

/**
 * A new registry's priority when none is given: searched after every registry there is, i.e. 10
 * past the highest, but never past what `--priority` takes (a tie with the highest still searches
 * the new one last: registries of equal priority keep the order of config.yaml, and it is added at
 * its end), nor past a higher one written into config.yaml by hand.
 */
export function nextPriority(priorities: number[]): number {
  const highest = Math.max(0, ...priorities);
  return Math.min(highest + 10, Math.max(MAX_PRIORITY, highest));
}

export async function registryAdd(argv: GlobalArgs & { name: string; url: string; priority?: string }) {
  const settings = await loadSettings(argv);
  remoteNote(settings, argv.quiet);
  if (!REGISTRY_NAME_RE.test(argv.name))
    throw new CliError("EUSAGE", `registry name ${JSON.stringify(argv.name)} is not valid`, {
      hint: "use letters, digits, '_', '.' or '-' (starting with a letter or digit, at most 64), e.g. main",
    });
  checkUrl(argv.url);
  const given = argv.priority === undefined ? undefined : String(argv.priority).trim();
  if (given !== undefined && !/^[0-9]{1,9}$/.test(given))
    throw new CliError(
      "EUSAGE",
      `--priority must be a whole number from 0 to 999999999, not ${JSON.stringify(String(argv.priority))}`,
      { hint: "e.g. --priority 10 (lower is searched first)" },
    );
  // read, checked and written under config.yaml's lock: concurrent adds all land
  const added = await updateConfigFile(settings.home.value, (file) => {
    const list = file.registries ?? [];
    if (list.some((r) => r.name === argv.name))
      throw new CliError("ECONFLICT", `registry "${argv.name}" already exists`, {
        hint: `remove it first: attune registry remove ${argv.name}`,
      });
    const priority = given !== undefined ? Number(given) : nextPriority(list.map((r) => r.priority));
    const entry: RegistryConfig = { name: argv.name, url: argv.url, priority, enabled: true };
    return { registries: [...list, entry], result: entry };
  });
  if (settings.env.ATTUNE_REGISTRIES && !argv.quiet)
    process.stderr.write(
      "attune: note: ATTUNE_REGISTRIES is set and overrides the registries of config.yaml\n",
    );
  if (!argv.quiet) warnIfRefused(settings, added);
  const row = rows([added], "config")[0];
  return { data: row, table: () => `Added registry ${row.name} (priority ${row.priority}): ${row.url}\n` };
}

/**
 * A registry URL this machine's own settings refuse (plain http without allow_http, a loopback or
 * private address not in allowed_private_hosts) is added (the settings may change, and config.yaml
 * may be for another machine), but said at once, with how to allow it, rather than at the next
 * search or install. Host names are not resolved here: that is checked on every fetch.
 */
function warnIfRefused(settings: Awaited<ReturnType<typeof loadSettings>>, reg: RegistryConfig): void {
  if (!isRemoteUrl(reg.url)) return; // a local index.json
  try {
    readPackSettings(settings.file, settings.env).policy.checkUrl(reg.url, "url");
  } catch (err) {
    if (!isAttuneError(err) || err.code !== "EPOLICY") return;
    process.stderr.write(
      `attune: warning: registry ${reg.name} was added, but its URL is refused by this machine's settings: ${printable(err.message)}\n` +
        (err.hint ? `hint: ${printable(err.hint)}\n` : ""),
    );
  }
}

export async function registryRemove(argv: GlobalArgs & { name: string }) {
  const settings = await loadSettings(argv, process.env, { allowDuplicateNames: true });
  remoteNote(settings, argv.quiet);
  const found = await updateConfigFile(settings.home.value, (file) => {
    const list = file.registries ?? [];
    const gone = list.find((r) => r.name === argv.name);
    if (!gone)
      throw new CliError("ENOTFOUND", `no registry named "${argv.name}" in config.yaml`, {
        hint: "see `attune registry list`",
      });
    // a config.yaml that repeats the name loses every entry of it (updateConfigFile mends it so)
    return { registries: list.filter((r) => r !== gone), result: gone };
  });
  const row = rows([found], "config")[0];
  return { data: row, table: () => `Removed registry ${row.name}\n` };
}
