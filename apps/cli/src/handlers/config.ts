import {
  CONFIGURABLE_LIMITS,
  DEFAULT_EXTRACT_LIMITS,
  DEFAULT_INDEX_TTL_SECONDS,
  readPackSettings,
} from "@attune/pack-registry";
import type { GlobalArgs } from "../globals";
import { table, type CommandResult } from "../output";
import { outputFormat } from "../run";
import { loadSettings, redactUrl, type Setting, type SettingSource } from "./settings";

/** An empty cell (a wrapped list's next lines); `table` shows an empty value as "-". */
const BLANK = " ";

/** `note`: what a user could misread, e.g. a setting only the API applies. */
type Shown = { value: unknown; source: SettingSource; from?: string; note?: string };

function envOr(
  env: NodeJS.ProcessEnv,
  name: string,
  fileValue: unknown,
  key: string,
  parse: (s: string) => unknown,
  dflt: unknown,
): Shown {
  const raw = env[name];
  if (raw !== undefined && raw.trim() !== "") return { value: parse(raw), source: "env", from: name };
  // `key:` with no value (YAML's null) is no setting: the default applies, as the readers take it
  if (fileValue !== undefined && fileValue !== null) return { value: fileValue, source: "config", from: key };
  return { value: dflt, source: "default" };
}

const list = (s: string) =>
  s
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);

/** Every effective setting with its origin. Secrets (token, DB password, registry headers) are redacted. */
export async function configShow(argv: GlobalArgs): Promise<CommandResult> {
  const s = await loadSettings(argv);
  const f = s.file;
  const plain = <T>(x: Setting<T>): Shown => ({ ...x });
  const fmtFlag = argv.output
    ? { value: argv.output, source: "flag" as const, from: "--output" }
    : process.env.ATTUNE_OUTPUT
      ? { value: process.env.ATTUNE_OUTPUT, source: "env" as const, from: "ATTUNE_OUTPUT" }
      : { value: outputFormat(argv), source: "default" as const };
  // the values the product will actually use (and ECONFIG naming every malformed variable at once)
  const { policy, envRegistries: regsEnv, limits } = readPackSettings(f, s.env);
  const caps: Record<string, Shown> = {};
  for (const c of CONFIGURABLE_LIMITS)
    caps[c.config] = {
      ...envOr(s.env, c.env, f[c.config], c.config, Number, DEFAULT_EXTRACT_LIMITS[c.key]),
      value: limits[c.key] ?? DEFAULT_EXTRACT_LIMITS[c.key],
    };
  const data: Record<string, Shown> = {
    home: plain(s.home),
    database_url: { ...s.databaseUrl, value: redactUrl(s.databaseUrl.value) },
    packs_dir: plain(s.packsDir),
    mode: { value: s.apiUrl.value ? "remote" : "local", source: s.apiUrl.source, from: s.apiUrl.from },
    api_url: s.apiUrl.value ? { ...s.apiUrl, value: redactUrl(s.apiUrl.value) } : plain(s.apiUrl),
    token: { ...s.token, value: s.token.value ? "***" : undefined },
    output: fmtFlag,
    allow_http: {
      ...envOr(s.env, "ATTUNE_ALLOW_HTTP", f.allow_http, "allow_http", list, false),
      value: policy.allowHttp,
    },
    allowed_private_hosts: {
      ...envOr(
        s.env,
        "ATTUNE_ALLOWED_PRIVATE_HOSTS",
        f.allowed_private_hosts,
        "allowed_private_hosts",
        list,
        [],
      ),
      value: [...policy.allowedPrivateHosts],
    },
    local_source_roots: {
      ...envOr(s.env, "ATTUNE_LOCAL_SOURCE_ROOTS", f.local_source_roots, "local_source_roots", list, []),
      note: "applied by the API only (its env wins); the CLI installs any local path",
    },
    index_cache_ttl_seconds: envOr(
      {},
      "",
      f.index_cache_ttl_seconds,
      "index_cache_ttl_seconds",
      Number,
      DEFAULT_INDEX_TTL_SECONDS,
    ),
    ...caps,
    max_download_bytes: {
      ...envOr(s.env, "ATTUNE_MAX_DOWNLOAD_BYTES", f.max_download_bytes, "max_download_bytes", Number, null),
      value: policy.maxDownloadBytes,
    },
    registries: regsEnv
      ? { value: regsEnv.map((r) => r.name), source: "env", from: "ATTUNE_REGISTRIES" }
      : f.registries
        ? { value: f.registries.map((r) => r.name), source: "config", from: "registries" }
        : { value: [], source: "default" },
  };
  for (const v of Object.values(data)) if (v.value === undefined) v.value = null;
  return {
    data,
    // values are never cut (a path, URL or registry name is what a user copies next), nor are
    // their sources (`env (AT…` hides which variable to change); a list (registries, hosts) is
    // wrapped, one item a line, instead of widening the column
    table: () =>
      table(
        ["setting", "value", "source"],
        Object.entries(data).flatMap(([k, v]) => {
          const source = (v.from ? `${v.source} (${v.from})` : v.source) + (v.note ? `; ${v.note}` : "");
          if (!Array.isArray(v.value) || v.value.length === 0)
            return [[k, Array.isArray(v.value) ? "-" : (v.value as string), source]];
          return v.value.map((item, i) =>
            i === 0 ? [k, String(item), source] : [BLANK, String(item), BLANK],
          );
        }),
        undefined,
        ["setting", "value", "source"],
      ),
  };
}
