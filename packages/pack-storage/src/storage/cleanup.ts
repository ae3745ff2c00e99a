// Start-up cleanup: what a crashed install/uninstall leaves behind is garbage by construction
// (staging dirs, temp links, trash, store dirs never linked); remove it unless its owner still runs.
import fs from "node:fs";
import type { Layout } from "./layout";
import { isAbandoned } from "./owner";

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

export async function cleanLeftovers(layout: Layout): Promise<string[]> {
  const removed: string[] = [];
  const rm = async (abs: string) => {
    await fs.promises.rm(abs, { recursive: true, force: true }).catch(() => undefined);
    removed.push(abs);
  };
  for (const name of await abandoned((n) => layout.staging(n), await readdirOrEmpty(layout.staging()))) {
    await rm(layout.staging(name));
  }
  for (const name of await abandoned((n) => layout.trash(n), await readdirOrEmpty(layout.trash()))) {
    await rm(layout.trash(name));
  }
  const before = await referencedStoreDirs(layout);
  const unlinked = (await readdirOrEmpty(layout.store())).filter((n) => !before.has(n));
  // owners were found dead before this second scan, so any link they made is visible in it
  const candidates = await abandoned((n) => layout.store(n), unlinked);
  const after = await referencedStoreDirs(layout);
  for (const name of candidates) if (!after.has(name)) await rm(layout.store(name));
  return removed;
}
