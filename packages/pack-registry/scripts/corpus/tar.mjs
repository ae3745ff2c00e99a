// Byte-level tar and gzip writers for the hostile corpus: they write what no archiver would.
import zlib from "node:zlib";

const MiB = 1024 * 1024;

function octal(value, width) {
  return value.toString(8).padStart(width - 1, "0") + "\0";
}

export function tarHeader({
  name,
  size = 0,
  type = "0",
  mode = 0o644,
  linkname = "",
  devmajor = 0,
  devminor = 0,
}) {
  const block = Buffer.alloc(512);
  const nameBytes = Buffer.isBuffer(name) ? name : Buffer.from(name);
  if (nameBytes.length > 100) throw new Error(`tar name too long for ustar: ${name}`);
  nameBytes.copy(block, 0);
  block.write(octal(mode, 8), 100, "latin1");
  block.write(octal(0, 8), 108, "latin1");
  block.write(octal(0, 8), 116, "latin1");
  block.write(octal(size, 12), 124, "latin1");
  block.write(octal(1767225600, 12), 136, "latin1");
  block.write(type, 156, "latin1");
  Buffer.from(linkname).copy(block, 157);
  block.write("ustar\0", 257, "latin1");
  block.write("00", 263, "latin1");
  block.write(octal(devmajor, 8), 329, "latin1");
  block.write(octal(devminor, 8), 337, "latin1");
  block.fill(" ", 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(octal(sum, 7) + " ", 148, "latin1");
  return block;
}

export function pad(length) {
  return Buffer.alloc((512 - (length % 512)) % 512);
}

function paxRecord(key, value) {
  const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.from(value), Buffer.from("\n")]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

/**
 * entries: { name, data?, type?, mode?, linkname?, size? (a lie, when set), pax?, paxGlobal? (a
 * global header, type g, before the entry: it holds for every entry after it) }
 */
export function tar(entries) {
  const parts = [];
  for (const e of entries) {
    const data = e.data ? Buffer.from(e.data) : Buffer.alloc(0);
    for (const [records, type] of [
      [e.paxGlobal, "g"],
      [e.pax, "x"],
    ]) {
      if (!records) continue;
      const body = Buffer.concat(Object.entries(records).map(([k, v]) => paxRecord(k, v)));
      parts.push(tarHeader({ name: "PaxHeader/entry", size: body.length, type }), body, pad(body.length));
    }
    parts.push(tarHeader({ ...e, size: e.size ?? data.length }), data, pad(data.length));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export const gzip = (buf) => zlib.gzipSync(buf, { level: 9 });

/** A .tar.gz holding one file of `bytes` zeros, streamed so the bomb never sits in memory. */
export async function gzipBomb(name, bytes) {
  const out = [];
  const gz = zlib.createGzip({ level: 9 });
  gz.on("data", (c) => out.push(c));
  const done = new Promise((r) => gz.on("end", r));
  const write = (buf) => (gz.write(buf) ? Promise.resolve() : new Promise((r) => gz.once("drain", r)));
  await write(tarHeader({ name, size: bytes }));
  const zeros = Buffer.alloc(MiB);
  for (let left = bytes; left > 0; left -= zeros.length)
    await write(left >= MiB ? zeros : zeros.subarray(0, left));
  await write(Buffer.concat([pad(bytes), Buffer.alloc(1024)]));
  gz.end();
  await done;
  return Buffer.concat(out);
}
