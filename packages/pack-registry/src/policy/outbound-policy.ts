import dns from "node:dns";
import net from "node:net";
import { AttuneError, ErrorCodes, SettingChecks, redactUrl } from "@attune/pack-storage";
import { positiveSetting } from "../config/settings";
import { disallowedReason, isLocalHostname, unbracket } from "./address";
import type { AttuneConfigFile } from "../config/types";
import { request, type PolicyRequestOptions, type PolicyResponse } from "../net/request";
import { fetchBuffer, type BufferedResponse } from "../net/fetch-buffer";
import { carriesCredentials } from "./url-credentials";

export interface LookupAddress {
  address: string;
  family: number;
}
/** Resolves every address of a host (injectable so tests can simulate DNS answers). */
export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

export interface OutboundPolicyOptions {
  allowHttp?: boolean;
  /** hosts (names or IP literals) that may resolve to loopback/private addresses */
  allowedPrivateHosts?: string[];
  resolver?: Resolver;
  /** default cap of a download, in bytes */
  maxDownloadBytes?: number;
  /** default total timeout of a request, in ms */
  timeoutMs?: number;
  /** extra trusted CA certificates (PEM) for https, e.g. an internal registry's CA; the system store is kept */
  extraCa?: string[];
}

export const DEFAULT_MAX_DOWNLOAD_BYTES = 512 * 1024 * 1024;
export const DEFAULT_TIMEOUT_MS = 5 * 60 * 1000;

const systemResolver: Resolver = (hostname) => dns.promises.lookup(hostname, { all: true, verbatim: true });

function envFlag(env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  const v = env[name]?.trim().toLowerCase();
  if (v === undefined || v === "") return undefined;
  if (["1", "true", "yes", "on"].includes(v)) return true;
  if (["0", "false", "no", "off"].includes(v)) return false;
  throw new AttuneError(ErrorCodes.ECONFIG, `${name} must be true or false, got "${env[name]}"`, {
    details: { field: name },
    hint: `e.g. ${name}=true (also 1, yes, on; false, 0, no, off), or unset it for the default (false)`,
  });
}

function policyError(rule: string, message: string, field: string, hint?: string): AttuneError {
  return new AttuneError(ErrorCodes.EPOLICY, message, { hint, details: { field, rule } });
}

/**
 * An allowed_private_hosts entry must be what it is compared with: a URL's host name or IP literal
 * alone. "127.0.0.1:8080", "10.0.0.0/8" or "http://host" would never match: ECONFIG naming it.
 */
function checkPrivateHosts(hosts: string[], setting: (i: number) => string): string[] {
  for (const [i, raw] of hosts.entries()) {
    const h = raw.trim();
    if (h === "") continue;
    const bare = unbracket(h);
    const ok =
      net.isIP(bare) !== 0 ||
      (!h.startsWith("[") &&
        /^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/.test(
          h,
        ));
    if (ok) continue;
    const what = h.includes("://")
      ? "a URL"
      : h.includes("/")
        ? "an address range (CIDR ranges are not supported)"
        : /^\[[^\]]*\]:\d*$/.test(h) || /^[^:]+:\d*$/.test(h)
          ? "a host with a port"
          : "not a host name or IP address";
    const field = setting(i);
    const where = field.startsWith("ATTUNE_") ? field : `config.yaml: ${field}`;
    throw new AttuneError(ErrorCodes.ECONFIG, `${where}: "${h}" is ${what}`, {
      details: { field, value: h },
      hint: `list host names or IP addresses alone, without scheme, port or /prefix (e.g. 127.0.0.1, ::1, registry.internal); each address of a range must be listed`,
    });
  }
  return hosts;
}

/**
 * The one place that decides which URLs and addresses the product may reach. The factory
 * checks user input with `checkUrl`; the net layer re-checks every request, every redirect
 * hop and every DNS answer with the same instance.
 */
export class OutboundPolicy {
  readonly allowHttp: boolean;
  readonly allowedPrivateHosts: ReadonlySet<string>;
  readonly maxDownloadBytes: number;
  readonly timeoutMs: number;
  readonly extraCa?: string[];
  private readonly resolver: Resolver;

  constructor(opts: OutboundPolicyOptions = {}) {
    this.allowHttp = opts.allowHttp ?? false;
    this.allowedPrivateHosts = new Set(
      (opts.allowedPrivateHosts ?? []).map((h) => unbracket(h.trim().toLowerCase())).filter(Boolean),
    );
    this.resolver = opts.resolver ?? systemResolver;
    this.maxDownloadBytes = opts.maxDownloadBytes ?? DEFAULT_MAX_DOWNLOAD_BYTES;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.extraCa = opts.extraCa;
  }

  /**
   * Environment values, when set, win over the config file's. Every bad setting is reported at once
   * (ECONFIG; several: `details.problems`).
   */
  static fromConfig(cfg: AttuneConfigFile = {}, env: NodeJS.ProcessEnv = process.env): OutboundPolicy {
    const envHosts = env.ATTUNE_ALLOWED_PRIVATE_HOSTS;
    const checks = new SettingChecks();
    const allowHttp = checks.read(() => envFlag(env, "ATTUNE_ALLOW_HTTP") ?? cfg.allow_http ?? false);
    const allowedPrivateHosts = checks.read(() =>
      envHosts !== undefined && envHosts.trim() !== ""
        ? checkPrivateHosts(envHosts.split(","), () => "ATTUNE_ALLOWED_PRIVATE_HOSTS")
        : checkPrivateHosts(cfg.allowed_private_hosts ?? [], (i) => `allowed_private_hosts[${i}]`),
    );
    const maxDownloadBytes = checks.read(() =>
      positiveSetting(env, "ATTUNE_MAX_DOWNLOAD_BYTES", cfg, "max_download_bytes", {
        unit: "bytes",
        fallback: DEFAULT_MAX_DOWNLOAD_BYTES,
      }),
    );
    checks.done();
    return new OutboundPolicy({ allowHttp, allowedPrivateHosts, maxDownloadBytes });
  }

  isPrivateHostAllowed(hostname: string): boolean {
    return this.allowedPrivateHosts.has(unbracket(hostname.toLowerCase()).replace(/\.$/, ""));
  }

  /** Parse and check a URL against the static rules (scheme, credentials, literal addresses). */
  checkUrl(url: string, field = "url"): URL {
    let u: URL;
    try {
      u = new URL(url);
    } catch (cause) {
      throw new AttuneError(ErrorCodes.EINVALID_INPUT, `${field}: "${redactUrl(url)}" is not a valid URL`, {
        cause,
        details: { field },
      });
    }
    if (u.protocol !== "https:" && u.protocol !== "http:") {
      throw policyError("scheme", `${field}: scheme ${u.protocol} is not allowed (use https)`, field);
    }
    // port 0 names no port: node's http would connect to the scheme's default instead (80/443),
    // another port than the URL shows (checked on every redirect too, as this runs for each)
    if (u.port === "0")
      throw new AttuneError(
        ErrorCodes.EINVALID_INPUT,
        `${field}: port 0 in "${redactUrl(url)}" is not a port`,
        {
          details: { field },
          hint: "give the server's port (1-65535), or none for the scheme's default",
        },
      );
    if (u.protocol === "http:" && !this.allowHttp) {
      throw policyError(
        "https-only",
        `${field}: plain http is refused for ${u.host} (use https)`,
        field,
        "set allow_http: true in config.yaml or ATTUNE_ALLOW_HTTP=true to allow plain http",
      );
    }
    if (carriesCredentials(u)) {
      throw policyError(
        "credentials",
        `${field}: credentials in URLs are refused (${u.protocol}//***@${u.host})`,
        field,
        "configure per-registry headers instead of putting a token in the URL",
      );
    }
    const host = unbracket(u.hostname);
    if (!this.isPrivateHostAllowed(host)) {
      const reason = isLocalHostname(host)
        ? "a local host name"
        : net.isIP(host)
          ? disallowedReason(host)
          : null;
      if (reason) throw this.privateError(host, reason, field);
    }
    return u;
  }

  /** Refuse a DNS answer if ANY address is disallowed (a mixed public+private answer is a rebinding trick). */
  checkAddresses(hostname: string, addresses: LookupAddress[], field = "url"): void {
    if (this.isPrivateHostAllowed(hostname)) return;
    if (addresses.length === 0) {
      throw new AttuneError(ErrorCodes.EFETCH, `${field}: ${hostname} resolved to no address`, {
        details: { field },
      });
    }
    for (const a of addresses) {
      const reason = disallowedReason(a.address);
      if (reason) throw this.privateError(hostname, `resolves to ${a.address} (${reason})`, field);
    }
  }

  /** Resolve a host and check every answer; IP literals are checked without DNS. */
  async resolve(hostname: string, field = "url"): Promise<LookupAddress[]> {
    const host = unbracket(hostname);
    const family = net.isIP(host);
    let addresses: LookupAddress[];
    if (family !== 0) addresses = [{ address: host, family }];
    else {
      try {
        addresses = await this.resolver(host);
      } catch (cause) {
        throw new AttuneError(ErrorCodes.EFETCH, `${field}: cannot resolve ${host}`, {
          cause,
          details: { field },
          hint: "check the host name and your network",
        });
      }
    }
    this.checkAddresses(host, addresses, field);
    return addresses;
  }

  /** Low-level streaming request; see `net/request`. */
  request(url: string, opts: PolicyRequestOptions = {}): Promise<PolicyResponse> {
    return request(this, url, opts);
  }

  /** Policy-checked GET buffered in memory (size cap, timeouts); non-2xx -> EFETCH. */
  fetch(url: string, opts: PolicyRequestOptions = {}): Promise<BufferedResponse> {
    return fetchBuffer(this, url, opts);
  }

  private privateError(host: string, reason: string, field: string): AttuneError {
    return policyError(
      "private-address",
      `${field}: ${host} is refused: ${reason}`,
      field,
      "add the host to allowed_private_hosts in config.yaml (or ATTUNE_ALLOWED_PRIVATE_HOSTS) if it is trusted",
    );
  }
}
