import { fileURLToPath } from "node:url";
import { NO_CREDENTIALS_MESSAGE, urlHasCredentials } from "../policy/url-credentials";

/**
 * Why `url` cannot name a registry's index, or null when it can: an http(s) URL, a `file:` URL of
 * this machine (`file:///path`, `file://localhost/path`, `file:/path`) or an absolute path, without
 * credentials. One rule for `registry add`, ATTUNE_REGISTRIES and config.yaml (which also keeps
 * accepting a relative path, as it always has: `allowRelativePath`).
 */
export function registryUrlProblem(url: string, opts: { allowRelativePath?: boolean } = {}): string | null {
  if (url.startsWith("/")) return null;
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === "http" || scheme === "https") {
    if (!/^https?:\/\//i.test(url)) return "is not a valid URL (write http(s)://host/...)";
    let port: string;
    try {
      port = new URL(url).port;
    } catch {
      return "is not a valid URL";
    }
    // as OutboundPolicy.checkUrl refuses it at fetch time: node would connect to port 80/443
    if (port === "0") return "has port 0, which is not a port (give 1-65535, or none for the default)";
    return urlHasCredentials(url) ? NO_CREDENTIALS_MESSAGE : null;
  }
  if (scheme === "file") {
    if (!/^file:\//i.test(url)) return "is a relative file: URL; write file:///absolute/path/index.json";
    try {
      fileURLToPath(url);
    } catch {
      return "is a file: URL naming another host; write file:///absolute/path/index.json";
    }
    return null;
  }
  if (scheme === undefined && opts.allowRelativePath && url.trim() !== "") return null;
  return "is neither an http(s) URL, a file: URL nor an absolute path";
}
