import path from "node:path";

/** Whether path `p` is `root` or lies under it (both absolute and normalised, e.g. real paths). */
export function isWithin(p: string, root: string): boolean {
  return p === root || p.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}
