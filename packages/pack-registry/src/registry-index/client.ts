import { AttuneError, ErrorCodes } from "@attune/pack-storage";
import { REGISTRY_NAME_RE } from "../config/config-file";
import type { RegistryConfig } from "../config/types";
import type { OutboundPolicy } from "../policy/outbound-policy";
import { IndexDiskCache, type CachedIndex } from "./cache";
import { checkIndexUrl, isRemoteUrl, loadIndex } from "./load";
import type { IndexEntry, RegistryIndex } from "./schema";
import { checkVersionSpec, newestFirst, pickVersion } from "./versions";

export const DEFAULT_INDEX_TTL_SECONDS = 300;
/**
 * How far in the future a copy's fetched_at may be and still count as fetched "now" (clocks of
 * machines sharing a home, or an NTP step). Beyond it the date is wrong (a clock set back, a copy
 * from a machine whose clock ran ahead, a hand-edited file): such a copy is expired, else it
 * would never expire, and its age is unknown.
 */
export const CLOCK_SKEW_MS = 60_000;

export interface RegistryClientOptions {
  registries: RegistryConfig[];
  policy: OutboundPolicy;
  /** where on-disk index copies live (the apps pass `$ATTUNE_HOME/cache/indexes`) */
  cacheDir?: string;
  ttlSeconds?: number;
  /** total timeout of one index fetch (default 60 s) */
  fetchTimeoutMs?: number;
  /** clock, for tests of the TTL */
  now?: () => Date;
}

export interface IndexState {
  registry: string;
  /** fresh = fetched now; cached = copy within TTL; stale = older copy used because the fetch failed */
  status: "fresh" | "cached" | "stale" | "error";
  fetchedAt: string | null;
  /** null: no copy (status "error"), or a copy dated in the future (its age is unknown) */
  ageSeconds: number | null;
  error?: AttuneError;
}

export type SearchResult = IndexEntry & { registry: string; versions: string[] };

export interface ResolvedPack {
  registry: RegistryConfig;
  entry: IndexEntry;
}

/**
 * Reads several registries in priority order. Resolution fails closed: the first registry (by
 * priority) that holds the ref wins, and a registry before it that cannot be read aborts the
 * resolution instead of silently falling through to a lower-priority one.
 */
export class RegistryClient {
  private readonly registries: RegistryConfig[];
  private readonly memory = new Map<string, CachedIndex>();
  private readonly disk?: IndexDiskCache;
  private readonly ttlMs: number;
  private readonly now: () => Date;

  constructor(private readonly opts: RegistryClientOptions) {
    this.registries = [...opts.registries].sort((a, b) => a.priority - b.priority);
    this.disk = opts.cacheDir ? new IndexDiskCache(opts.cacheDir) : undefined;
    this.ttlMs = (opts.ttlSeconds ?? DEFAULT_INDEX_TTL_SECONDS) * 1000;
    this.now = opts.now ?? (() => new Date());
  }

  /** Every configured registry (enabled or not), by priority. */
  list(): RegistryConfig[] {
    return this.registries.map((r) => ({ ...r }));
  }

  private enabled(only?: string): RegistryConfig[] {
    if (only === undefined) return this.registries.filter((r) => r.enabled);
    const reg = this.registries.find((r) => r.name === only);
    if (!reg) {
      throw new AttuneError(ErrorCodes.ENOTFOUND, `registry "${only}" is not configured`, {
        details: { field: "registry", known: this.registries.map((r) => r.name) },
        hint: "see `attune registry list`",
      });
    }
    if (!reg.enabled) {
      const others = this.registries.filter((r) => r.enabled).map((r) => r.name);
      throw new AttuneError(ErrorCodes.ECONFIG, `registry "${only}" is disabled`, {
        details: { field: "registry", enabled: others },
        hint:
          `enable it with \`enabled: true\` in its entry of config.yaml's registries` +
          (others.length > 0
            ? `, or pick an enabled one (${others.join(", ")})`
            : ", or add another with `attune registry add <name> <url>`"),
      });
    }
    return [reg];
  }

  /** How old a copy is, in ms; null when it is dated beyond the clock skew in the future. */
  private ageMs(c: CachedIndex): number | null {
    const age = this.now().getTime() - c.fetchedAt.getTime();
    return age < -CLOCK_SKEW_MS ? null : Math.max(0, age);
  }

  private fresh(c: CachedIndex | null | undefined, url: string): c is CachedIndex {
    if (!c || c.url !== url) return false;
    const age = this.ageMs(c);
    return age !== null && age < this.ttlMs;
  }

  /**
   * One registry's index: memory, then the on-disk copy, while within the TTL; else fetched.
   * With `allowStale`, a failed fetch falls back to any older copy (state "stale").
   */
  async getIndex(
    reg: RegistryConfig,
    opts: { refresh?: boolean; allowStale?: boolean; signal?: AbortSignal } = {},
  ): Promise<{ index: RegistryIndex; state: IndexState }> {
    const state = (status: IndexState["status"], c: CachedIndex, error?: AttuneError): IndexState => {
      const age = this.ageMs(c);
      return {
        registry: reg.name,
        status,
        fetchedAt: c.fetchedAt.toISOString(),
        // a copy dated in the future (beyond the skew) is of unknown age, not 0 s old
        ageSeconds: age === null ? null : Math.round(age / 1000),
        error,
      };
    };
    // a copy is used only where a fetch would be allowed: not one fetched under looser settings (by
    // another process sharing the home, or before they changed) of a URL this policy refuses
    checkIndexUrl(reg, this.opts.policy);
    const mem = this.memory.get(reg.name);
    // the name becomes a file name: only names that passed config validation get a disk copy
    const useDisk = this.disk && isRemoteUrl(reg.url) && REGISTRY_NAME_RE.test(reg.name);
    if (!opts.refresh) {
      if (this.fresh(mem, reg.url)) return { index: mem.index, state: state("cached", mem) };
      const copy = useDisk ? await this.disk!.read(reg.name, reg.url) : null;
      if (this.fresh(copy, reg.url)) {
        this.memory.set(reg.name, copy);
        return { index: copy.index, state: state("cached", copy) };
      }
    }
    try {
      const index = await loadIndex(reg, this.opts.policy, {
        signal: opts.signal,
        timeoutMs: this.opts.fetchTimeoutMs,
      });
      const entry = { url: reg.url, fetchedAt: this.now(), index };
      this.memory.set(reg.name, entry);
      if (useDisk) await this.disk!.write(reg.name, entry).catch(() => undefined); // a cache write failure must not fail the read
      return { index, state: state("fresh", entry) };
    } catch (e) {
      // refused by the policy (a name that resolves to a private address): no older copy either
      if (!opts.allowStale || !(e instanceof AttuneError) || e.code === ErrorCodes.EPOLICY) throw e;
      const old =
        (mem?.url === reg.url ? mem : null) ?? (useDisk ? await this.disk!.read(reg.name, reg.url) : null);
      if (!old) throw e;
      return { index: old.index, state: state("stale", old, e) };
    }
  }

  /**
   * Case-insensitive match on ref, label, description and keywords across enabled registries.
   * An unreadable registry does not fail the search: a stale copy is used (its age reported),
   * or the registry is reported with status "error".
   */
  async searchDetailed(
    text: string,
    opts: { refresh?: boolean; registry?: string; signal?: AbortSignal } = {},
  ): Promise<{ results: SearchResult[]; registries: IndexState[] }> {
    const needle = text.trim().toLowerCase();
    const results: SearchResult[] = [];
    const states: IndexState[] = [];
    for (const reg of this.enabled(opts.registry)) {
      let index: RegistryIndex;
      try {
        const got = await this.getIndex(reg, {
          refresh: opts.refresh,
          allowStale: true,
          signal: opts.signal,
        });
        index = got.index;
        states.push(got.state);
      } catch (e) {
        if (!(e instanceof AttuneError)) throw e;
        states.push({ registry: reg.name, status: "error", fetchedAt: null, ageSeconds: null, error: e });
        continue;
      }
      // a ref matches when any of its versions does; its result is its latest version, with every
      // version the registry publishes (not only those that matched)
      const byRef = new Map<string, IndexEntry[]>();
      const matched = new Set<string>();
      for (const p of index.packs) {
        byRef.set(p.ref, [...(byRef.get(p.ref) ?? []), p]);
        const hay = [p.ref, p.label, p.description, ...p.keywords].join("\n").toLowerCase();
        if (needle === "" || hay.includes(needle)) matched.add(p.ref);
      }
      for (const [ref, entries] of byRef) {
        if (!matched.has(ref)) continue;
        const versions = newestFirst(entries.map((e) => e.version));
        const best = entries.find((e) => e.version === pickVersion(versions)) ?? entries[0];
        results.push({ ...best, registry: reg.name, versions });
      }
    }
    return { results, registries: states };
  }

  async search(text: string, opts: { refresh?: boolean; registry?: string } = {}): Promise<SearchResult[]> {
    return (await this.searchDetailed(text, opts)).results;
  }

  /**
   * `versionSpec`: undefined/"latest", an exact version, or a semver range (highest match wins).
   * Indexes younger than the TTL are used as cached; but before answering "not found" (no registry
   * has the ref, or the first that has it has no matching version) every index that came from the
   * cache is read again once: a version published a minute ago must not read as missing. With
   * `refresh`, every index is read again first (so "latest" is the newest published).
   */
  async resolve(
    ref: string,
    versionSpec?: string,
    opts: { registry?: string; refresh?: boolean; signal?: AbortSignal } = {},
  ): Promise<ResolvedPack> {
    if (versionSpec !== undefined) checkVersionSpec(versionSpec);
    const regs = this.enabled(opts.registry);
    if (regs.length === 0) {
      throw new AttuneError(ErrorCodes.ENOTFOUND, `pack "${ref}": no registry is configured`, {
        details: { field: "source" },
        hint: "add one with `attune registry add <name> <url>` or ATTUNE_REGISTRIES",
      });
    }
    const first = await this.lookup(regs, ref, versionSpec, opts.refresh === true, opts.signal);
    if ("found" in first) return first.found;
    const missed = first.cached ? await this.lookup(regs, ref, versionSpec, true, opts.signal) : first;
    if ("found" in missed) return missed.found;
    if (missed.versions) {
      const { registry, versions } = missed.versions;
      throw new AttuneError(
        ErrorCodes.ENOTFOUND,
        `pack "${ref}": registry "${registry}" has no version matching ${versionSpec} (has ${versions.join(", ")})`,
        {
          details: { field: "version", registry },
          hint: `pick one of the versions it has, or a range that matches one (\`attune pack search ${ref}\` lists them)`,
        },
      );
    }
    throw new AttuneError(
      ErrorCodes.ENOTFOUND,
      `pack "${ref}" is in none of the registries: ${regs.map((r) => r.name).join(", ")}`,
      {
        details: { field: "source", registries: regs.map((r) => r.name) },
        // the CLI adds "give ./<name>" when such a local path exists (the library cannot tell
        // whose disk the name would be on: the API's is not its caller's)
        hint: "check the ref with `attune pack search`",
      },
    );
  }

  /**
   * The first registry (by priority) that has `ref` decides: its best match, or a miss that names
   * its versions. `cached`: some index read came from the cache (a re-read might answer otherwise).
   */
  private async lookup(
    regs: RegistryConfig[],
    ref: string,
    versionSpec: string | undefined,
    refresh: boolean,
    signal: AbortSignal | undefined,
  ): Promise<
    { found: ResolvedPack } | { cached: boolean; versions: { registry: string; versions: string[] } | null }
  > {
    let cached = false;
    for (const reg of regs) {
      // no allowStale: installing from an index we could not read now would not be fail-closed
      const { index, state } = await this.getIndex(reg, { refresh, signal });
      if (state.status === "cached") cached = true;
      const entries = index.packs.filter((p) => p.ref === ref);
      if (entries.length === 0) continue;
      const versions = entries.map((e) => e.version);
      const version = pickVersion(versions, versionSpec);
      if (version === null) return { cached, versions: { registry: reg.name, versions } };
      return { found: { registry: { ...reg }, entry: entries.find((e) => e.version === version)! } };
    }
    return { cached, versions: null };
  }
}
