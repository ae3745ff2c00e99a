import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach } from "@jest/globals";

/** A fresh temp dir removed by the returned cleanup. */
export function tmp(prefix = "attune-ps-"): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Cleanups for the tests of one file, run after each test (call once, at the file's top level):
 * `later(fn)` runs `fn` after the current test, `tree(files)` writes a fresh tree in a temp dir
 * removed then.
 */
export function perTestCleanup(): {
  later(fn: () => void): void;
  tree(files?: Record<string, string | Buffer | null>): string;
} {
  let cleanups: Array<() => void> = [];
  afterEach(() => {
    cleanups.forEach((c) => c());
    cleanups = [];
  });
  return {
    later: (fn) => void cleanups.push(fn),
    tree(files = {}) {
      const t = tmp();
      cleanups.push(t.cleanup);
      return writeTree(path.join(t.dir, "pack"), files);
    },
  };
}

/** Write `{ "rel/path": content }` under `root` (content null = empty directory). */
export function writeTree(root: string, files: Record<string, string | Buffer | null>): string {
  fs.mkdirSync(root, { recursive: true });
  for (const [rel, content] of Object.entries(files)) {
    const abs = path.join(root, rel);
    if (content === null) fs.mkdirSync(abs, { recursive: true });
    else {
      fs.mkdirSync(path.dirname(abs), { recursive: true });
      fs.writeFileSync(abs, content);
    }
  }
  return root;
}

/**
 * Independent, deliberately simple reference of DESIGN.md §3 "framed v1": a global sort of
 * `/`-split component arrays (not the implementation's per-directory sort) and whole-file reads.
 */
export function referenceChecksum(root: string): string {
  const files: string[][] = [];
  const walk = (dir: string, parts: string[]) => {
    for (const name of fs.readdirSync(dir)) {
      if (name === ".git") continue;
      const abs = path.join(dir, name);
      if (fs.lstatSync(abs).isDirectory()) walk(abs, [...parts, name]);
      else files.push([...parts, name]);
    }
  };
  walk(root, []);
  files.sort((a, b) => {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const c = Buffer.compare(Buffer.from(a[i]), Buffer.from(b[i]));
      if (c !== 0) return c;
    }
    return a.length - b.length;
  });
  const h = crypto.createHash("sha256");
  const u64 = (n: number) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(n));
    return b;
  };
  for (const parts of files) {
    const p = Buffer.from(parts.join("/"));
    const content = fs.readFileSync(path.join(root, ...parts));
    h.update(Buffer.from("attune-pack-file-v1"))
      .update(u64(p.length))
      .update(p)
      .update(u64(content.length))
      .update(content);
  }
  return `sha256:${h.digest("hex")}`;
}

/** Deterministic pseudo-random bytes. */
export function bytes(n: number, seed = 1): Buffer {
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Expect a promise to reject with an AttuneError of `code`; returns the error for more checks. */
export async function rejection(
  p: Promise<unknown>,
): Promise<{ code: string; message: string; path?: string } & Error> {
  try {
    await p;
  } catch (err) {
    return err as { code: string; message: string; path?: string } & Error;
  }
  throw new Error("expected a rejection");
}
