// Byte-level zip writer for the hostile corpus: any name, any mode, any (lying) size.
import zlib from "node:zlib";

const MiB = 1024 * 1024;

export async function deflateZeros(bytes) {
  const out = [];
  const d = zlib.createDeflateRaw({ level: 9 });
  d.on("data", (c) => out.push(c));
  const done = new Promise((r) => d.on("end", r));
  const zeros = Buffer.alloc(MiB);
  let crc = 0;
  for (let left = bytes; left > 0; left -= zeros.length) {
    const chunk = left >= MiB ? zeros : zeros.subarray(0, left);
    crc = zlib.crc32(chunk, crc);
    if (!d.write(chunk)) await new Promise((r) => d.once("drain", r));
  }
  d.end();
  await done;
  return { compressed: Buffer.concat(out), crc, size: bytes };
}

/** entries: { name, data? | deflated?: {compressed, crc, size}, mode?, dir?, declaredSize? (a lie) } */
export function zip(entries) {
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.isBuffer(e.name) ? e.name : Buffer.from(e.name);
    const data = e.data ? Buffer.from(e.data) : Buffer.alloc(0);
    const method = e.deflated ? 8 : 0;
    const payload = e.deflated ? e.deflated.compressed : data;
    const crc = e.deflated ? e.deflated.crc : zlib.crc32(data);
    const size = e.declaredSize ?? (e.deflated ? e.deflated.size : data.length);
    const mode = e.mode ?? (e.dir ? 0o040755 : 0o100644);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6); // names are UTF-8
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(0, 10);
    local.writeUInt16LE(0x5c21, 12); // 2026-01-01
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(payload.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made by Unix: the attributes carry st_mode
    local.copy(central, 6, 4, 30); // version needed .. name length are laid out alike
    central.writeUInt16LE(0, 30);
    central.writeUInt16LE(0, 32);
    central.writeUInt16LE(0, 34);
    central.writeUInt16LE(0, 36);
    central.writeUInt32LE((mode << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, payload);
    centrals.push(central, name);
    offset += local.length + name.length + payload.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}
