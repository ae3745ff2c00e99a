import type http from "node:http";
import { AttuneError, ErrorCodes, redactUrl } from "@attune/pack-storage";
import { quoteRemote } from "../quote";
import type { OutboundPolicy } from "../policy/outbound-policy";
import { request, type PolicyRequestOptions, type PolicyResponse } from "./request";

export interface BufferedResponse {
  url: string;
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * The hint of a 401/403 from a registry or one of its downloads; `configured`: the registry has
 * headers already (sent with this request), so they are what the server refused.
 */
export function registryAuthHint(name: string, configured = false): string {
  return configured
    ? `the server refused the headers configured for registry "${name}" (registries[].headers in config.yaml): check that the token they carry is current and grants access to this index`
    : `the server wants credentials: configure headers for registry "${name}" in config.yaml (registries[].headers)`;
}

/** Turn a non-2xx response into EFETCH naming the URL and status (the body is discarded). */
export function assertOk(res: PolicyResponse, field = "url", authHint?: string): void {
  if (res.status >= 200 && res.status < 300) return;
  res.dispose();
  throw new AttuneError(
    ErrorCodes.EFETCH,
    // the status phrase is the server's own text: escaped; the URL may carry a signed query
    // (a server may echo the request target in it, signed query and all: redacted like a URL)
    `${field}: ${redactUrl(res.url)} answered HTTP ${res.status} ${quoteRemote(redactUrl(res.statusMessage ?? ""), 100)}`.trim(),
    {
      details: { field, url: redactUrl(res.url), status: res.status },
      hint:
        res.status === 401 || res.status === 403
          ? (authHint ??
            "check the URL and that it is open to you: a direct URL cannot carry credentials (a private download is published through a registry with headers)")
          : undefined,
    },
  );
}

/**
 * A document (an index) in memory. Its Content-Encoding is decoded unless `decode: false`: S3 and
 * CloudFront serve a pre-compressed object with `Content-Encoding: gzip` whatever the request asked.
 * `body` is then the decoded bytes, `maxBytes` caps them as well as the bytes on the wire.
 */
export async function fetchBuffer(
  policy: OutboundPolicy,
  url: string,
  opts: PolicyRequestOptions = {},
): Promise<BufferedResponse> {
  const res = await request(policy, url, { ...opts, decode: opts.decode ?? true });
  assertOk(res, opts.field, opts.authHint);
  const chunks: Buffer[] = [];
  for await (const c of res.body) chunks.push(c);
  return { url: res.url, status: res.status, headers: res.headers, body: Buffer.concat(chunks) };
}
