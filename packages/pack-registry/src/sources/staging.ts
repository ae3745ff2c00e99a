import fs from "node:fs/promises";
import path from "node:path";

/** Remove everything inside a staging directory (the directory itself belongs to the caller). */
export async function emptyDir(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return;
  }
  await Promise.all(names.map((n) => fs.rm(path.join(dir, n), { recursive: true, force: true })));
}
