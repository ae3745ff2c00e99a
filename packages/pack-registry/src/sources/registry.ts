import { AttuneError, ErrorCodes, IntegrityError, redactUrl } from "@attune/pack-storage";
import type { RegistryConfig } from "../config/types";
import type { InstallSource } from "../registry-index/schema";
import type { PackSpec } from "../registry-index/versions";
import { archiveUrlSource } from "./archive-url";
import { gitSource } from "./git";
import { emptyDir } from "./staging";
import type { FetchContext, FetchResult, Source } from "./types";

interface Attempt {
  type: InstallSource["type"];
  url: string;
  code: string;
  message: string;
}

/**
 * Git sources first (in index order), archives as the fallback. With a checksum pinned by the
 * caller, the sources that publish that very checksum go first (in the same order among them): a
 * pin of the archive's checksum cannot match what a git source delivers (its checksum is of the
 * directory), so trying git first would fail an install that the archive satisfies.
 */
function ordered(sources: InstallSource[], pinned?: string): InstallSource[] {
  const byType = [...sources.filter((s) => s.type === "git"), ...sources.filter((s) => s.type === "archive")];
  const pin = pinned?.trim().toLowerCase();
  if (!pin) return byType;
  const pins = (s: InstallSource) => s.checksum.toLowerCase() === pin;
  return [...byType.filter(pins), ...byType.filter((s) => !pins(s))];
}

/** A registry's headers (tokens) also go to downloads on the registry's own origin, never elsewhere. */
function headersFor(url: string, reg: RegistryConfig): Record<string, string> | undefined {
  if (!reg.headers || !/^https?:\/\//i.test(reg.url)) return undefined;
  try {
    return new URL(url).origin === new URL(reg.url).origin ? reg.headers : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Resolve `ref[@version]` in the registries (fail closed), then fetch one of the entry's install
 * sources. A git source's checksum is the directory checksum the installer verifies after staging
 * (`expectedChecksum`); an archive source's checksum is of the archive bytes and is verified here,
 * before extraction. A checksum mismatch aborts: it never falls through to another source.
 */
export function registrySource(
  spec: PackSpec,
  opts: {
    registry?: string;
    refresh?: boolean;
    /** the caller's expected checksum: the install sources publishing it are tried first */
    checksum?: string;
  } = {},
): Source {
  return {
    type: "registry",
    async fetch(stagingDir: string, ctx: FetchContext): Promise<FetchResult> {
      const { registry, entry } = await ctx.registries.resolve(spec.ref, spec.versionSpec, {
        registry: opts.registry,
        refresh: opts.refresh,
        signal: ctx.signal,
      });
      const attempts: Attempt[] = [];
      let last: unknown;
      for (const src of ordered(entry.install_sources, opts.checksum)) {
        try {
          const headers = headersFor(src.url, registry);
          const source =
            src.type === "git"
              ? gitSource(src.url, src.ref, { headers, registryName: registry.name })
              : archiveUrlSource(src.url, {
                  expectedArchiveChecksum: src.checksum,
                  headers,
                  registryName: registry.name,
                });
          const r = await source.fetch(stagingDir, ctx);
          return {
            ...r,
            sourceType: "registry",
            sourceUrl: src.url,
            sourceRef: src.type === "git" ? src.ref : null,
            expectedChecksum: src.type === "git" ? src.checksum : null,
            registryName: registry.name,
            registryEntry: entry,
            details: {
              ...r.details,
              installSource: src.type,
              ref: entry.ref,
              version: entry.version,
              failedAttempts: attempts,
            },
          };
        } catch (e) {
          // a mismatch is never retried elsewhere; it names the registry and the entry's version
          if (e instanceof IntegrityError)
            throw new IntegrityError(e.expected, e.found, {
              foundText: e.foundText,
              hint: e.hint,
              cause: e,
              details: {
                ...e.details,
                registry: registry.name,
                version: entry.version,
                installSource: src.type,
                url: redactUrl(src.url),
              },
            });
          if (ctx.signal?.aborted || !(e instanceof AttuneError)) throw e;
          // the index's URL may carry a token: never quoted with it
          attempts.push({
            type: src.type,
            url: redactUrl(src.url),
            code: String(e.code),
            message: e.message,
          });
          last = e;
          await emptyDir(stagingDir);
        }
      }
      // Sources that all failed the same way keep that code and its hint: refused by policy everywhere
      // is a refusal (the index points somewhere forbidden), a broken archive is not a network failure.
      const codes = new Set(attempts.map((a) => a.code));
      const same = codes.size === 1 ? [...codes][0] : null;
      throw new AttuneError(
        same ?? ErrorCodes.EFETCH,
        `pack ${entry.ref}@${entry.version} (registry "${registry.name}"): every install source failed: ${attempts
          .map((a) => `${a.type} ${a.url}: ${a.message}`)
          .join("; ")}`,
        {
          cause: last,
          hint: same ? (last as AttuneError).hint : undefined,
          details: {
            field: "source",
            registry: registry.name,
            version: entry.version,
            url: attempts.at(-1)?.url,
            attempts,
          },
        },
      );
    },
  };
}
