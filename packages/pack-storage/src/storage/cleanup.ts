// Start-up cleanup: what a crashed install/uninstall leaves behind is garbage by construction
// (staging dirs, temp links, trash, store dirs never linked); remove it unless its owner still runs.
// Store dirs a replace unlinked (retired) are not garbage at once: readers may still be in them;
// they go once their grace period has passed, whoever their owner (sweepRetired).
import fs from "node:fs";
import { RETIRED_PREFIX, type Layout } from "./layout";
import { isAbandoned, isOwn } from "./owner";

async function readdirOrEmpty(dir: string): Promise<string[]> {
  return fs.promises.readdir(dir).catch(() => [] as string[]);
}

async function ageMs(abs: string): Promise<number> {
  const st = await fs.promises.lstat(abs).catch(() => null);
  return st ? Date.now() - Math.max(st.mtimeMs, st.ctimeMs) : 0;
}

async function abandoned(dir: (n: string) => string, names: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const name of names) if (isAbandoned(name, await ageMs(dir(name)))) out.push(name);
  return out;
}

/** Store dirs that some `<packsDir>/<entry>` link points at. */
async function referencedStoreDirs(layout: Layout): Promise<Set<string>> {
  const refs = new Set<string>();
  for (const name of await readdirOrEmpty(layout.root)) {
    if (name.startsWith(".")) continue;
    const target = await fs.promises.readlink(layout.entry(name)).catch(() => null);
    const storeName = target ? layout.storeNameOf(target) : null;
    if (storeName) refs.add(storeName);
  }
  return refs;
}

const exists = (abs: string) =>
  fs.promises.lstat(abs).then(
    () => true,
    () => false,
  );

/** Delete `abs` (best effort); listed in `removed` only when it is gone, else in `kept`. */
async function remove(abs: string, removed: string[], kept: string[] = []): Promise<void> {
  await fs.promises.rm(abs, { recursive: true, force: true }).catch(() => undefined);
  ((await exists(abs)) ? kept : removed).push(abs);
}

/**
 * Empty the trash: what is in it is being deleted by construction (moved there whole, atomically).
 * Entries of dead processes go; with `own`, so do this process's entries that no discard of it is
 * deleting right now (a deletion that failed earlier, say on a read-only file). A live process's
 * entries are left to it. Returns the entries removed (an entry that still cannot be deleted is
 * left, and listed in `kept`).
 */
export async function cleanTrash(
  layout: Layout,
  opts: { own: boolean },
): Promise<{ removed: string[]; kept: string[] }> {
  const names = await readdirOrEmpty(layout.trash());
  const dead = new Set(await abandoned((n) => layout.trash(n), names));
  const removed: string[] = [];
  const kept: string[] = [];
  for (const name of names) {
    const abs = layout.trash(name);
    const mine = opts.own && isOwn(name) && !layout.isDiscarding(abs);
    if (!dead.has(name) && !mine) continue;
    await remove(abs, removed, kept);
  }
  return { removed, kept };
}

/**
 * Remove the staging entries (staging dirs, temp links) of dead processes on this host, and foreign
 * ones past their grace period; never a live process's (it may be extracting into one right now).
 * Returns the entries removed, and those that could not be deleted.
 */
export async function cleanStaging(layout: Layout): Promise<{ removed: string[]; kept: string[] }> {
  const removed: string[] = [];
  const kept: string[] = [];
  for (const name of await abandoned((n) => layout.staging(n), await readdirOrEmpty(layout.staging()))) {
    await remove(layout.staging(name), removed, kept);
  }
  return { removed, kept };
}

export async function cleanLeftovers(layout: Layout, graceMs: number): Promise<string[]> {
  const removed: string[] = (await cleanStaging(layout)).removed;
  const rm = (abs: string) => remove(abs, removed);
  removed.push(...(await cleanTrash(layout, { own: false })).removed);
  const before = await referencedStoreDirs(layout);
  // the store's own files (its id, retirement marks) start with "."; content dirs never do
  // listed after the links: a store dir unlinked by then was marked before its link was swapped away
  const names = await readdirOrEmpty(layout.store());
  const retired = retiredNames(names);
  const unlinked = names.filter((n) => !n.startsWith(".") && !before.has(n) && !retired.has(n));
  // owners were found dead before this second scan, so any link they made is visible in it
  const candidates = await abandoned((n) => layout.store(n), unlinked);
  const after = await referencedStoreDirs(layout);
  for (const name of candidates) if (!after.has(name)) await rm(layout.store(name));
  removed.push(...(await sweepRetired(layout, graceMs)));
  return removed;
}

function retiredNames(storeEntries: string[]): Set<string> {
  return new Set(
    storeEntries.filter((n) => n.startsWith(RETIRED_PREFIX)).map((n) => n.slice(RETIRED_PREFIX.length)),
  );
}

/**
 * Delete the store dirs a replace retired (swap.ts retireStore) once no link names them and their
 * mark is at least `graceMs` old; drop marks whose store dir is gone. Best effort: what cannot be
 * deleted now stays for a later sweep. A store dir being installed (moved in, not linked yet) has
 * no mark, so it is never taken for a retired one. Returns the store dirs removed.
 */
export async function sweepRetired(layout: Layout, graceMs: number): Promise<string[]> {
  const entries = await readdirOrEmpty(layout.store());
  const retired = retiredNames(entries);
  if (retired.size === 0) return [];
  // links first, then the marks' ages: a mark rewritten for a replace under way is fresh by then
  const linked = await referencedStoreDirs(layout);
  const present = new Set(entries);
  const removed: string[] = [];
  for (const name of retired) {
    const mark = layout.retiredMarker(name);
    const dir = layout.store(name);
    if (present.has(name)) {
      if (linked.has(name) || (await ageMs(mark)) < graceMs) continue;
      try {
        await layout.discard(dir);
      } catch {
        continue; // left, with its mark, for a later sweep
      }
      removed.push(dir);
    }
    await fs.promises.rm(mark, { recursive: true, force: true }).catch(() => undefined);
  }
  return removed;
}
