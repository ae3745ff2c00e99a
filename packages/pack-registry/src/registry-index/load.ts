import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { AttuneError, ErrorCodes, ioError, redactUrl } from "@attune/pack-storage";
import { quoteRemote } from "../quote";
import type { RegistryConfig } from "../config/types";
import type { OutboundPolicy } from "../policy/outbound-policy";
import { registryAuthHint } from "../net/fetch-buffer";
import { registryUrlProblem } from "../config/registry-url";
import { parseIndex, type RegistryIndex } from "./schema";

export const MAX_INDEX_BYTES = 16 * 1024 * 1024;
export const INDEX_TIMEOUT_MS = 60_000;

export function isRemoteUrl(url: string): boolean {
  return /^https?:\/\//i.test(url);
}

/** `file:` URLs of this machine and plain paths name a local index.json; null: neither. */
function localPath(url: string): string | null {
  if (/^file:/i.test(url)) {
    if (registryUrlProblem(url) !== null) return null;
    return fileURLToPath(url);
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(url)) return null;
  return path.resolve(url);
}

async function readLocal(file: string): Promise<Buffer> {
  try {
    const st = await fs.stat(file);
    if (st.size > MAX_INDEX_BYTES) {
      throw new AttuneError(
        ErrorCodes.ETOO_LARGE,
        `${file} is ${st.size} bytes, over the ${MAX_INDEX_BYTES}-byte index cap`,
        { path: file },
      );
    }
    return await fs.readFile(file);
  } catch (e) {
    throw ioError(e, file, "read registry index");
  }
}

/** Fetch (or read) and validate one registry's index. Errors keep their code and name the registry. */
export async function loadIndex(
  reg: RegistryConfig,
  policy: OutboundPolicy,
  opts: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<RegistryIndex> {
  const source = `registry "${reg.name}" (${redactUrl(reg.url)})`;
  const field = indexField(reg);
  try {
    let bytes: Buffer;
    if (isRemoteUrl(reg.url)) {
      const res = await policy.fetch(reg.url, {
        headers: { accept: "application/json", ...reg.headers },
        maxBytes: MAX_INDEX_BYTES,
        timeoutMs: opts.timeoutMs ?? INDEX_TIMEOUT_MS,
        field,
        authHint: registryAuthHint(reg.name, Object.keys(reg.headers ?? {}).length > 0),
        signal: opts.signal,
      });
      bytes = res.body;
    } else {
      const file = localPath(reg.url);
      if (file === null) {
        throw new AttuneError(
          ErrorCodes.ECONFIG,
          `url ${registryUrlProblem(reg.url) ?? "must be http(s), file:/// or a path"}`,
          {
            details: { field },
          },
        );
      }
      bytes = await readLocal(file);
    }
    let json: unknown;
    try {
      json = JSON.parse(bytes.toString("utf8"));
    } catch (cause) {
      throw new AttuneError(
        ErrorCodes.EINDEX,
        // JSON.parse quotes the start of the body: the server's text, escaped
        `index ${source}: not valid JSON: ${quoteRemote((cause as Error).message)}`,
        {
          cause,
          // gzip's magic bytes: an index.json.gz served as it is, not as Content-Encoding: gzip
          hint:
            bytes[0] === 0x1f && bytes[1] === 0x8b
              ? "the index is gzip-compressed bytes sent without Content-Encoding: gzip; point the registry at the uncompressed index.json, or have the server send the compressed file with Content-Encoding: gzip"
              : "check that the registry URL points at the index file itself (not a web or login page), and fix the index (or ask its maintainer to)",
        },
      );
    }
    return parseIndex(json, source);
  } catch (e) {
    throw registryError(e, reg);
  }
}

/**
 * Check a remote registry's URL against `policy` as a fetch would (scheme, port, an address named
 * in it), without fetching: a copy of its index (the cache) is only used where a fetch would be
 * allowed. Throws EPOLICY naming the registry, as loadIndex does.
 */
export function checkIndexUrl(reg: RegistryConfig, policy: OutboundPolicy): void {
  if (!isRemoteUrl(reg.url)) return;
  try {
    policy.checkUrl(reg.url, indexField(reg));
  } catch (e) {
    throw registryError(e, reg);
  }
}

/** The internal field a registry's URL is checked as (`registries.<name>.url`), cut from messages again. */
function indexField(reg: RegistryConfig): string {
  return `registries.${reg.name}.url`;
}

/** A failure to read a registry's index, naming the registry (errors keep their code). */
function registryError(e: unknown, reg: RegistryConfig): unknown {
  if (!(e instanceof AttuneError)) return e;
  const source = `registry "${reg.name}" (${redactUrl(reg.url)})`;
  const field = indexField(reg);
  // the message names the registry already: not again as the internal field (`registries.x.url: `)
  const inner = e.message.startsWith(`${field}: `) ? e.message.slice(field.length + 2) : e.message;
  const message = e.code === ErrorCodes.EINDEX ? e.message : `${source} cannot be read: ${inner}`;
  // a missing/unreadable local index is a fetch failure of the registry, not a missing user path
  const code = e.code === ErrorCodes.ENOENT || e.code === ErrorCodes.EIO ? ErrorCodes.EFETCH : e.code;
  return new AttuneError(code, message, {
    cause: e,
    hint:
      e.hint ??
      (e.code === ErrorCodes.ETOO_LARGE
        ? `an index may be at most ${MAX_INDEX_BYTES} bytes (a fixed cap, not a setting): check that the registry URL names the index itself, or split a registry that large into several`
        : undefined),
    details: { ...e.details, registry: reg.name },
  });
}
