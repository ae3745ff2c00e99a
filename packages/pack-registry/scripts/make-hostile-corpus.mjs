#!/usr/bin/env node
// Writes the hostile-archive corpus: every archive safe extraction must refuse, plus two good
// controls, and manifest.json saying which error code each one must produce. Everything is built
// byte by byte here (no archiver library would write these on purpose), so the corpus is
// reproducible and reviewable. Usage: node make-hostile-corpus.mjs <outdir>
// manifest.json format: see docs/security.md ("Hostile-archive corpus").
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import zlib from "node:zlib";

const MiB = 1024 * 1024;
// Bombs exceed the default per-entry cap (256 MiB) while staying a few hundred KB on disk.
const BOMB_BYTES = 300 * MiB;

// ---- tar (ustar) ------------------------------------------------------------------------------
function octal(value, width) {
  return value.toString(8).padStart(width - 1, "0") + "\0";
}

function tarHeader({ name, size = 0, type = "0", mode = 0o644, linkname = "", devmajor = 0, devminor = 0 }) {
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

function pad(length) {
  return Buffer.alloc((512 - (length % 512)) % 512);
}

function paxRecord(key, value) {
  const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.from(value), Buffer.from("\n")]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

/** entries: { name, data?, type?, mode?, linkname?, size? (a lie, when set), pax? } */
function tar(entries) {
  const parts = [];
  for (const e of entries) {
    const data = e.data ? Buffer.from(e.data) : Buffer.alloc(0);
    if (e.pax) {
      const body = Buffer.concat(Object.entries(e.pax).map(([k, v]) => paxRecord(k, v)));
      parts.push(
        tarHeader({ name: "PaxHeader/entry", size: body.length, type: "x" }),
        body,
        pad(body.length),
      );
    }
    parts.push(tarHeader({ ...e, size: e.size ?? data.length }), data, pad(data.length));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

const gzip = (buf) => zlib.gzipSync(buf, { level: 9 });

/** A .tar.gz holding one file of `bytes` zeros, streamed so the bomb never sits in memory. */
async function gzipBomb(name, bytes) {
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

// ---- zip --------------------------------------------------------------------------------------
async function deflateZeros(bytes) {
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
function zip(entries) {
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

// ---- cases ------------------------------------------------------------------------------------
const PACK_YAML = "ref: corpus_pack\nversion: 1.0.0\nlabel: Corpus pack\n";

/** Incompressible but reproducible bytes, so truncation lands in the middle of real data. */
function noise(bytes) {
  const buf = Buffer.alloc(bytes);
  let x = 0x2545f491;
  for (let i = 0; i < bytes; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf[i] = x & 0xff;
  }
  return buf;
}

const good = [
  { name: "pack.yaml", data: PACK_YAML },
  { name: "actions/", type: "5", mode: 0o755, dir: true },
  { name: "actions/run.sh", data: "#!/bin/sh\necho ok\n", mode: 0o755 },
  { name: "data.bin", data: noise(192 * 1024) },
];
const asZip = (entries) =>
  entries.map((e) => ({ ...e, mode: e.dir ? 0o040755 : 0o100000 | (e.mode ?? 0o644) }));

function manyEntries(count) {
  return Array.from({ length: count }, (_, i) => ({ name: `f/${String(i).padStart(6, "0")}` }));
}

const deep = Array.from({ length: 40 }, () => "d").join("/") + "/deep.txt";

/** [name, description, expected code, expected entry (or null), { "tar.gz"?, tar?, zip? }] */
async function cases() {
  const goodTar = tar(good);
  const goodZip = zip(asZip(good));
  const bomb = await deflateZeros(BOMB_BYTES);
  const lies = tar([
    { name: "pack.yaml", data: PACK_YAML },
    { name: "short.txt", data: "x".repeat(600), size: 10 },
  ]);
  return [
    [
      "ok",
      "a well-formed pack (control: must extract)",
      null,
      null,
      { "tar.gz": gzip(goodTar), zip: goodZip },
    ],
    [
      "zip-slip",
      'an entry "../evil.txt" escaping the destination',
      "EUNSAFE_ARCHIVE",
      "../evil.txt",
      {
        "tar.gz": gzip(tar([{ name: "../evil.txt", data: "x" }])),
        zip: zip([{ name: "../evil.txt", data: "x" }]),
      },
    ],
    [
      "zip-slip-nested",
      'an entry "ok/../../evil.txt"',
      "EUNSAFE_ARCHIVE",
      "ok/../../evil.txt",
      {
        "tar.gz": gzip(tar([{ name: "ok/../../evil.txt", data: "x" }])),
        zip: zip([{ name: "ok/../../evil.txt", data: "x" }]),
      },
    ],
    [
      "pax-slip",
      'a benign ustar name overridden by a pax "path=../pax-evil.txt" record',
      "EUNSAFE_ARCHIVE",
      "../pax-evil.txt",
      { "tar.gz": gzip(tar([{ name: "benign.txt", data: "x", pax: { path: "../pax-evil.txt" } }])) },
    ],
    [
      "absolute",
      'an absolute entry "/etc/attune-evil.txt"',
      "EUNSAFE_ARCHIVE",
      "/etc/attune-evil.txt",
      {
        "tar.gz": gzip(tar([{ name: "/etc/attune-evil.txt", data: "x" }])),
        zip: zip([{ name: "/etc/attune-evil.txt", data: "x" }]),
      },
    ],
    [
      "drive-letter",
      'a Windows absolute entry "C:/evil.txt"',
      "EUNSAFE_ARCHIVE",
      "C:/evil.txt",
      {
        "tar.gz": gzip(tar([{ name: "C:/evil.txt", data: "x" }])),
        zip: zip([{ name: "C:/evil.txt", data: "x" }]),
      },
    ],
    [
      "backslash",
      'an entry "..\\\\evil.txt" with a Windows separator',
      "EUNSAFE_ARCHIVE",
      "..\\evil.txt",
      {
        "tar.gz": gzip(tar([{ name: "..\\evil.txt", data: "x" }])),
        zip: zip([{ name: "..\\evil.txt", data: "x" }]),
      },
    ],
    // zip only: in tar a NUL ends the name for every reader (node-tar and GNU tar read "evil"), so it is no ambiguity
    [
      "nul",
      "an entry name holding a NUL byte",
      "EUNSAFE_ARCHIVE",
      "evil\u0000.txt",
      { zip: zip([{ name: "evil\u0000.txt", data: "x" }]) },
    ],
    [
      "symlink-escape",
      'a symlink "link" -> ../../../etc, then a file written through it',
      "EUNSAFE_ARCHIVE",
      "link",
      {
        "tar.gz": gzip(
          tar([
            { name: "link", type: "2", linkname: "../../../etc", mode: 0o777 },
            { name: "link/attune-evil", data: "x" },
          ]),
        ),
        zip: zip([
          { name: "link", data: "../../../etc", mode: 0o120777 },
          { name: "link/attune-evil", data: "x" },
        ]),
      },
    ],
    [
      "symlink-inside",
      'a symlink "docs/link" -> ../pack.yaml that stays inside (links are refused anyway)',
      "EUNSAFE_ARCHIVE",
      "docs/link",
      {
        "tar.gz": gzip(
          tar([
            { name: "pack.yaml", data: PACK_YAML },
            { name: "docs/link", type: "2", linkname: "../pack.yaml" },
          ]),
        ),
        zip: zip([
          { name: "pack.yaml", data: PACK_YAML },
          { name: "docs/link", data: "../pack.yaml", mode: 0o120777 },
        ]),
      },
    ],
    [
      "hardlink",
      'a hard link "b.txt" -> a.txt',
      "EUNSAFE_ARCHIVE",
      "b.txt",
      {
        "tar.gz": gzip(
          tar([
            { name: "a.txt", data: "x" },
            { name: "b.txt", type: "1", linkname: "a.txt" },
          ]),
        ),
      },
    ],
    [
      "hardlink-escape",
      'a hard link "passwd" -> /etc/passwd',
      "EUNSAFE_ARCHIVE",
      "passwd",
      { "tar.gz": gzip(tar([{ name: "passwd", type: "1", linkname: "/etc/passwd" }])) },
    ],
    [
      "device",
      'a character device "null" (1,3)',
      "EUNSAFE_ARCHIVE",
      "null",
      { "tar.gz": gzip(tar([{ name: "null", type: "3", devmajor: 1, devminor: 3 }])) },
    ],
    [
      "fifo",
      'a FIFO "pipe"',
      "EUNSAFE_ARCHIVE",
      "pipe",
      { "tar.gz": gzip(tar([{ name: "pipe", type: "6" }])), zip: zip([{ name: "pipe", mode: 0o010644 }]) },
    ],
    [
      "unknown-type",
      'an entry "odd" of an unknown tar type "Q", which tar readers tend to skip silently',
      "EUNSAFE_ARCHIVE",
      "odd",
      { "tar.gz": gzip(tar([{ name: "odd", type: "Q" }])) },
    ],
    [
      "gzip-bomb",
      `a ${BOMB_BYTES / MiB} MiB file of zeros in a tiny .tar.gz`,
      "ETOO_LARGE",
      "zeros.bin",
      { "tar.gz": await gzipBomb("zeros.bin", BOMB_BYTES) },
    ],
    [
      "zip-bomb",
      `a ${BOMB_BYTES / MiB} MiB file of zeros deflated into a tiny .zip`,
      "ETOO_LARGE",
      "zeros.bin",
      { zip: zip([{ name: "zeros.bin", deflated: bomb }]) },
    ],
    [
      "size-lie",
      "a header declaring fewer bytes than the entry holds (zip: 16 bytes declared, 300 MiB inflated)",
      "EUNSAFE_ARCHIVE",
      null,
      {
        "tar.gz": gzip(lies),
        zip: zip([
          { name: "pack.yaml", data: PACK_YAML },
          { name: "zeros.bin", deflated: bomb, declaredSize: 16 },
        ]),
      },
    ],
    [
      "duplicate",
      'the entry "a.txt" twice',
      "EUNSAFE_ARCHIVE",
      "a.txt",
      {
        "tar.gz": gzip(
          tar([
            { name: "a.txt", data: "1" },
            { name: "a.txt", data: "2" },
          ]),
        ),
        zip: zip([
          { name: "a.txt", data: "1" },
          { name: "a.txt", data: "2" },
        ]),
      },
    ],
    [
      "case-collision",
      '"README.md" and "readme.md"',
      "EUNSAFE_ARCHIVE",
      "readme.md",
      {
        "tar.gz": gzip(
          tar([
            { name: "README.md", data: "1" },
            { name: "readme.md", data: "2" },
          ]),
        ),
        zip: zip([
          { name: "README.md", data: "1" },
          { name: "readme.md", data: "2" },
        ]),
      },
    ],
    [
      "nfc-collision",
      '"café.txt" in NFC and in NFD',
      "EUNSAFE_ARCHIVE",
      "cafe\u0301.txt",
      {
        "tar.gz": gzip(
          tar([
            { name: "caf\u00e9.txt", data: "1" },
            { name: "cafe\u0301.txt", data: "2" },
          ]),
        ),
        zip: zip([
          { name: "caf\u00e9.txt", data: "1" },
          { name: "cafe\u0301.txt", data: "2" },
        ]),
      },
    ],
    [
      "file-as-directory",
      'a file "a" then "a/b" needing it to be a directory',
      "EUNSAFE_ARCHIVE",
      "a/b",
      {
        "tar.gz": gzip(
          tar([
            { name: "a", data: "1" },
            { name: "a/b", data: "2" },
          ]),
        ),
        zip: zip([
          { name: "a", data: "1" },
          { name: "a/b", data: "2" },
        ]),
      },
    ],
    [
      "deep-nesting",
      "an entry 41 levels deep (default cap 32)",
      "ETOO_LARGE",
      deep,
      { "tar.gz": gzip(tar([{ name: deep, data: "x" }])), zip: zip([{ name: deep, data: "x" }]) },
    ],
    [
      "too-many-entries",
      "50,001 empty files (default cap 50,000)",
      "ETOO_LARGE",
      "f/050000",
      { "tar.gz": gzip(tar(manyEntries(50_001))), zip: zip(manyEntries(50_001)) },
    ],
    [
      "truncated",
      "a good archive cut at 60% of its bytes",
      "EUNSAFE_ARCHIVE",
      null,
      {
        "tar.gz": gzip(goodTar).subarray(0, Math.floor(gzip(goodTar).length * 0.6)),
        tar: goodTar.subarray(0, Math.floor(goodTar.length * 0.6)),
        zip: goodZip.subarray(0, Math.floor(goodZip.length * 0.6)),
      },
    ],
    [
      "corrupt-gzip",
      "a .tar.gz whose deflate stream is damaged in the middle",
      "EUNSAFE_ARCHIVE",
      null,
      {
        "tar.gz": (() => {
          const b = Buffer.from(gzip(goodTar));
          b.fill(0xff, 200, 260);
          return b;
        })(),
      },
    ],
    [
      "not-an-archive",
      "plain text named like an archive",
      "EUNSAFE_ARCHIVE",
      null,
      {
        "tar.gz": Buffer.from("this is not an archive\n"),
        tar: Buffer.from("this is not an archive\n".repeat(40)),
        zip: Buffer.from("PK? no.\n"),
      },
    ],
    ["wrong-extension", "a zip named .tar.gz", "EUNSAFE_ARCHIVE", null, { "tar.gz": goodZip }],
  ];
}

async function main() {
  const outdir = process.argv[2];
  if (!outdir) {
    process.stderr.write("usage: make-hostile-corpus.mjs <outdir>\n");
    process.exit(2);
  }
  const dir = resolve(outdir);
  mkdirSync(dir, { recursive: true });
  const manifest = { format: 1, limits: "defaults", cases: [] };
  for (const [name, description, expect, entry, files] of await cases()) {
    for (const [format, bytes] of Object.entries(files)) {
      const file = `${name}.${format}`;
      writeFileSync(join(dir, file), bytes);
      manifest.cases.push({ name, file, format, expect, entry, description });
    }
  }
  writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  process.stdout.write(`${manifest.cases.length} archives written to ${dir}\n`);
}

await main();
