// Hostile inputs other than archives (the archive corpus comes from pack-registry's committed
// generator): malformed pack.yaml trees and malformed registry indexes, written under `root`.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { makePack } from "../../bench/lib/product.mjs";

const write = (file, content) => {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
};

const LAUGHS = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
for (let i = 1; i < 9; i++) {
  const prev = String.fromCharCode(96 + i);
  const cur = String.fromCharCode(97 + i);
  LAUGHS.push(`${cur}: &${cur} [${Array(9).fill(`*${prev}`).join(",")}]`);
}

/** Pack trees whose pack.yaml (or layout) must be refused: { name -> dir }. */
export function makeBadPacks(root) {
  const base = "label: x\ndescription: d\n";
  const yamls = {
    "manifest: missing ref": `version: 1.0.0\n${base}`,
    "manifest: missing version": `ref: bad_pack\n${base}`,
    "manifest: traversal ref": `ref: ../../etc\nversion: 1.0.0\n${base}`,
    "manifest: uppercase ref": `ref: Bad-Pack\nversion: 1.0.0\n${base}`,
    "manifest: non-semver version": `ref: bad_pack\nversion: "1.0"\n${base}`,
    "manifest: traversal version": `ref: bad_pack\nversion: 1.0.0/../../x\n${base}`,
    "manifest: not YAML": "ref: [unclosed\n  version: {\n",
    "manifest: YAML list": "- ref: bad_pack\n- version: 1.0.0\n",
    "manifest: wrong types": `ref: bad_pack\nversion: 1.0.0\ntags: 5\nruntime_deps: {a: 1}\n`,
    "manifest: bad dependency": `ref: bad_pack\nversion: 1.0.0\ndependencies: ["../x@>=1"]\n`,
    "manifest: alias bomb": `${LAUGHS.join("\n")}\nref: bad_pack\nversion: 1.0.0\ntags: *i\n`,
    "manifest: 8 MiB": `ref: bad_pack\nversion: 1.0.0\ndescription: "${"x".repeat(8 * 1024 * 1024)}"\n`,
  };
  const out = {};
  for (const [name, yaml] of Object.entries(yamls)) {
    const dir = path.join(root, name.replace(/[^a-z0-9]+/gi, "-"));
    write(path.join(dir, "pack.yaml"), yaml);
    write(path.join(dir, "actions/a.yaml"), "name: a\n");
    out[name] = dir;
  }
  const none = path.join(root, "no-manifest");
  write(path.join(none, "actions/a.yaml"), "name: a\n");
  out["layout: no pack.yaml"] = none;
  const two = path.join(root, "two-roots");
  makePack(two, "first_pack", "1.0.0");
  makePack(two, "second_pack", "1.0.0");
  out["layout: two pack roots"] = two;
  const linked = path.join(root, "manifest-symlink");
  write(path.join(linked, "actions/a.yaml"), "name: a\n");
  fs.symlinkSync("/etc/passwd", path.join(linked, "pack.yaml"));
  out["layout: pack.yaml -> /etc/passwd"] = linked;
  const inner = path.join(root, "inner-symlink");
  makePack(root, "inner_link", "1.0.0");
  fs.renameSync(path.join(root, "inner_link-1.0.0-src"), inner);
  fs.symlinkSync("/etc", path.join(inner, "actions/etc"));
  out["layout: symlink to /etc inside"] = inner;
  const fifo = path.join(root, "fifo-inside");
  makePack(root, "fifo_pack", "1.0.0");
  fs.renameSync(path.join(root, "fifo_pack-1.0.0-src"), fifo);
  execFileSync("mkfifo", [path.join(fifo, "actions/pipe")]); // Node's fs cannot make a FIFO
  out["layout: FIFO inside"] = fifo;
  return out;
}

/**
 * Registry indexes served from `dir` (one folder per case, each with index.json) for the ref
 * `idx_pack`. `good` is an archive of idx_pack, `other` one of another pack ({ url, sum } each).
 * The first case is a valid control that must install.
 */
export function makeBadIndexes(dir, { good, other, serverUrl }) {
  const archiveUrl = good.url;
  const archiveSum = good.sum;
  const entry = (over = {}) => ({
    ref: "idx_pack",
    label: "idx",
    description: "d",
    version: "1.0.0",
    author: "a",
    license: "MIT",
    keywords: [],
    runtime_deps: [],
    install_sources: [{ type: "archive", url: archiveUrl, checksum: archiveSum }],
    contents: { actions: [], sensors: [], triggers: [], rules: [], workflows: [] },
    ...over,
  });
  const index = (packs, over = {}) =>
    JSON.stringify({
      registry_name: "bad",
      registry_url: serverUrl,
      version: "1.0",
      last_updated: "2026-01-01T00:00:00Z",
      packs,
      ...over,
    });
  const src = (over) => [{ type: "archive", url: archiveUrl, checksum: archiveSum, ...over }];
  const cases = {
    "index: valid (control)": index([entry()]),
    "index: not JSON": "{ this is not json",
    "index: version 2.0": index([entry()], { version: "2.0" }),
    "index: packs not a list": index({ idx_pack: entry() }),
    "index: entry without sources": index([entry({ install_sources: [] })]),
    "index: traversal ref": index([entry({ ref: "../../etc" })]),
    "index: malformed checksum": index([entry({ install_sources: src({ checksum: "md5:abc" }) })]),
    "index: credentials in URL": index([
      entry({ install_sources: src({ url: archiveUrl.replace("http://", "http://user:pw@") }) }),
    ]),
    "index: file:// source": index([entry({ install_sources: src({ url: "file:///etc/passwd" }) })]),
    "index: metadata-IP source": index([
      entry({ install_sources: src({ url: "http://169.254.169.254/latest/p.tar.gz" }) }),
    ]),
    "index: checksum mismatch": index([
      entry({ install_sources: src({ checksum: `sha256:${"0".repeat(64)}` }) }),
    ]),
    "index: delivers another ref": index([
      entry({ install_sources: src({ url: other.url, checksum: other.sum }) }),
    ]),
  };
  for (const [name, body] of Object.entries(cases)) write(path.join(dir, slug(name), "index.json"), body);
  return Object.keys(cases).map((name) => ({
    name,
    url: `${serverUrl}/${path.basename(dir)}/${slug(name)}/index.json`,
  }));
}

export const slug = (s) => s.replace(/[^a-z0-9]+/gi, "-").replace(/^-|-$/g, "");
