// Reference implementations used to check benchmark results: deliberately simple and independent
// of @attune/pack-storage (global sort of component arrays, plain reads), slow but obviously right.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

function hashFileInto(hash, file) {
  const fd = fs.openSync(file, "r");
  const buf = Buffer.allocUnsafe(1 << 20);
  try {
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) hash.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
}

/** Plain SHA-256 of a file, `sha256:<hex>`. */
export function referenceFileChecksum(file) {
  const h = crypto.createHash("sha256");
  hashFileInto(h, file);
  return `sha256:${h.digest("hex")}`;
}

/** DESIGN.md §3 "framed v1" directory checksum. */
export function referenceDirectoryChecksum(root) {
  const files = [];
  const walk = (dir, parts) => {
    for (const name of fs.readdirSync(dir)) {
      if (name === ".git") continue;
      const abs = path.join(dir, name);
      const st = fs.lstatSync(abs);
      if (st.isDirectory()) walk(abs, [...parts, name]);
      else if (st.isFile()) files.push({ parts: [...parts, name], size: st.size });
      else throw new Error(`not a regular file: ${abs}`);
    }
  };
  walk(root, []);
  files.sort((a, b) => {
    for (let i = 0; i < Math.min(a.parts.length, b.parts.length); i++) {
      const c = Buffer.compare(Buffer.from(a.parts[i]), Buffer.from(b.parts[i]));
      if (c !== 0) return c;
    }
    return a.parts.length - b.parts.length;
  });
  const h = crypto.createHash("sha256");
  const u64 = (n) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(n));
    return b;
  };
  for (const f of files) {
    const rel = Buffer.from(f.parts.join("/"));
    h.update("attune-pack-file-v1").update(u64(rel.length)).update(rel).update(u64(f.size));
    hashFileInto(h, path.join(root, ...f.parts));
  }
  return `sha256:${h.digest("hex")}`;
}
