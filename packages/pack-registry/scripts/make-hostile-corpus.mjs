#!/usr/bin/env node
// Writes the hostile-archive corpus: every archive safe extraction must refuse, plus two good
// controls, and manifest.json saying which error code each one must produce. Everything is built
// byte by byte here (no archiver library would write these on purpose), so the corpus is
// reproducible and reviewable. Usage: node make-hostile-corpus.mjs <outdir>
// manifest.json format: see docs/security.md ("Hostile-archive corpus").
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { gzip, gzipBomb, tar } from "./corpus/tar.mjs";
import { deflateZeros, zip } from "./corpus/zip.mjs";

const MiB = 1024 * 1024;
// Bombs exceed the default per-entry cap (256 MiB) while staying a few hundred KB on disk.
const BOMB_BYTES = 300 * MiB;

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
      "50,001 empty files in f/ (default cap 50,000 entries, the implied directory f/ included)",
      "ETOO_LARGE",
      "f/049999",
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
    [
      "lone-zero-block",
      "an entry after a single zero block (GNU tar and Python end the archive there; tar tf does not show it)",
      "EUNSAFE_ARCHIVE",
      null,
      (() => {
        const t = Buffer.concat([
          tar([{ name: "pack.yaml", data: PACK_YAML }]).subarray(0, -1024),
          Buffer.alloc(512),
          tar([{ name: "hidden.txt", data: "not listed by tar tf" }]),
        ]);
        return { "tar.gz": gzip(t), tar: t };
      })(),
    ],
    [
      "pax-sparse",
      "a GNU sparse file in pax form (GNU.sparse.* keys): node-tar would write its sparse map as the bytes",
      "EUNSAFE_ARCHIVE",
      null,
      {
        "tar.gz": gzip(
          tar([
            { name: "pack.yaml", data: PACK_YAML },
            {
              name: "GNUSparseFile.1/big.bin",
              data: "1\n0\n3\n",
              pax: {
                "GNU.sparse.major": "1",
                "GNU.sparse.minor": "0",
                "GNU.sparse.name": "big.bin",
                "GNU.sparse.realsize": "1048576",
              },
            },
          ]),
        ),
      },
    ],
    [
      "pax-global-path",
      "a pax global header renaming every entry after it to ../x (GNU tar applies it, node-tar ignores it)",
      "EUNSAFE_ARCHIVE",
      null,
      {
        "tar.gz": gzip(
          tar([
            { name: "pack.yaml", data: PACK_YAML, paxGlobal: { path: "../global-evil.txt" } },
            { name: "x.txt", data: "x" },
          ]),
        ),
      },
    ],
    [
      "zip-uncounted-entry",
      "a central directory holding one record more than its end record counts (yauzl would drop it, unzip lists it)",
      "EUNSAFE_ARCHIVE",
      null,
      {
        zip: (() => {
          const z = Buffer.from(
            zip([
              { name: "pack.yaml", data: PACK_YAML },
              { name: "hidden.txt", data: "x" },
            ]),
          );
          const end = z.length - 22;
          z.writeUInt16LE(1, end + 8);
          z.writeUInt16LE(1, end + 10);
          return z;
        })(),
      },
    ],
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
