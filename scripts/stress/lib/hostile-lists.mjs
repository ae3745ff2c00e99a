// The hostile cases that are plain data: bad refs/versions, SSRF targets, HTTP-level abuse.
const ZEROS = `sha256:${"0".repeat(64)}`;

/** Bad refs, versions, git refs and checksums: `{ cli: [name, args][], api: [name, method, path, body][] }`. */
export function refCases(server) {
  const archive = `${server}/idx_pack.tar.gz`;
  const git = `${server}/repo.git`;
  return {
    cli: [
      ["install: registry spec with a space", ["pack", "install", "Bad Ref@1.0"]],
      ["install: ref@non-semver", ["pack", "install", "idx_pack@not-a-version"]],
      ["show: traversal ref", ["pack", "show", "../../etc"]],
      ["uninstall: traversal ref", ["pack", "uninstall", "../../etc", "--yes"]],
      ["uninstall: traversal version", ["pack", "uninstall", "idx_pack", "--version", "../../x", "--yes"]],
      ["history: control character", ["pack", "history", "a\nb"]],
      ["verify: uppercase ref", ["pack", "verify", "Bad_Ref"]],
      [
        "install: git ref option injection",
        ["pack", "install", git, "--ref=--upload-pack=touch /tmp/attune-evil"],
      ],
      ["install: git ref with a newline", ["pack", "install", git, "--ref=v1\nrefs/heads/x"]],
      ["install: malformed --checksum", ["pack", "install", archive, "--checksum", "sha256:xyz"]],
      ["install: wrong --checksum", ["pack", "install", archive, "--checksum", ZEROS]],
    ],
    api: [
      ["GET traversal ref", "GET", "/api/v1/packs/..%2F..%2Fetc"],
      ["GET uppercase ref", "GET", "/api/v1/packs/Bad_Ref"],
      ["GET ref with a newline", "GET", "/api/v1/packs/a%0Ab/history"],
      ["DELETE traversal version", "DELETE", "/api/v1/packs/idx_pack?version=..%2F..%2Fx"],
      ["install ref@non-semver", "POST", "/api/v1/packs/install", { source: "idx_pack@not-a-version" }],
      [
        "install git ref option injection",
        "POST",
        "/api/v1/packs/install",
        { source: git, ref_spec: "--upload-pack=touch /tmp/attune-evil" },
      ],
      [
        "install malformed checksum",
        "POST",
        "/api/v1/packs/install",
        { source: archive, checksum: "sha256:xyz" },
      ],
      ["install wrong checksum", "POST", "/api/v1/packs/install", { source: archive, checksum: ZEROS }],
      ["list page=-1", "GET", "/api/v1/packs?page=-1"],
      ["list page_size=100000", "GET", "/api/v1/packs?page_size=100000"],
      ["list unknown source_type", "GET", "/api/v1/packs?source_type=nfs"],
      ["list unknown parameter", "GET", "/api/v1/packs?sort=ref;drop"],
    ],
  };
}

/** [name, url, extra CLI args?]: refused by the default outbound policy (redirects: even with loopback allowed). */
export function ssrfTargets(server) {
  const port = new URL(server).port;
  return [
    ["metadata IP over http", "http://169.254.169.254/latest/meta-data/p.tar.gz"],
    ["metadata IP over https", "https://169.254.169.254/p.tar.gz"],
    ["loopback archive (not allowed)", `${server}/idx_pack.tar.gz`],
    ["loopback over https", `https://127.0.0.1:${port}/idx_pack.tar.gz`],
    ["IPv6 loopback", `https://[::1]:${port}/p.tar.gz`],
    ["hex-encoded loopback", "https://0x7f000001/p.tar.gz"],
    ["decimal-encoded loopback", "https://2130706433/p.tar.gz"],
    ["localhost by name", `https://localhost:${port}/p.tar.gz`],
    ["private 10.0.0.1", "https://10.0.0.1/p.tar.gz"],
    ["file:// URL", "file:///etc/passwd"],
    ["credentials in the URL", "https://user:secret@example.com/p.tar.gz"],
    ["ftp:// URL", "ftp://example.com/p.tar.gz"],
    ["git over loopback (not allowed)", `${server}/repo.git`, ["--ref", "v1.0.0"]],
    ["redirect to the metadata IP", `${server}/redirect-metadata.tar.gz`],
    ["redirect to file://", `${server}/redirect-file.tar.gz`],
  ];
}

/** [name, method, path, options] for the API only: tokens and request bodies. */
export function apiOnlyCases({ token, readOnly, revoked }) {
  const install = "/api/v1/packs/install";
  const big = (n) => JSON.stringify({ source: "x".repeat(n) });
  return [
    ["no token", "GET", "/api/v1/packs", { group: "token" }],
    ["garbage token", "GET", "/api/v1/packs", { group: "token", token: "garbage" }],
    ["well-formed unknown token", "GET", "/api/v1/packs", { group: "token", token: `att_${"A".repeat(43)}` }],
    ["revoked token", "GET", "/api/v1/packs", { group: "token", token: revoked }],
    [
      "read-only token installs",
      "POST",
      install,
      { group: "token", token: readOnly, body: { source: "idx_pack" } },
    ],
    ["read-only token deletes", "DELETE", "/api/v1/packs/idx_pack", { group: "token", token: readOnly }],
    [
      "Basic auth",
      "GET",
      "/api/v1/packs",
      { group: "token", headers: { authorization: "Basic YWRtaW46YWRtaW4=" } },
    ],
    ["token in the query string", "GET", `/api/v1/packs?access_token=${token}`, { group: "token" }],
    [
      "1 MiB JSON body",
      "POST",
      install,
      { group: "body", token, raw: big(1 << 20), headers: { "content-type": "application/json" } },
    ],
    [
      "16 MiB JSON body",
      "POST",
      install,
      { group: "body", token, raw: big(16 << 20), headers: { "content-type": "application/json" } },
    ],
    [
      "malformed JSON",
      "POST",
      install,
      { group: "body", token, raw: '{"source":', headers: { "content-type": "application/json" } },
    ],
    [
      "deeply nested JSON",
      "POST",
      install,
      { group: "body", token, raw: "[".repeat(30000), headers: { "content-type": "application/json" } },
    ],
    [
      "text/plain body",
      "POST",
      install,
      { group: "body", token, raw: "source=x", headers: { "content-type": "text/plain" } },
    ],
    ["unknown field", "POST", install, { group: "body", token, body: { source: "idx_pack", evil: true } }],
    [
      "__proto__ field",
      "POST",
      install,
      {
        group: "body",
        token,
        raw: '{"source":"idx_pack","__proto__":{"admin":true}}',
        headers: { "content-type": "application/json" },
      },
    ],
    ["wrong type", "POST", install, { group: "body", token, body: { source: 5, force: "yes" } }],
    ["NUL in source", "POST", install, { group: "body", token, body: { source: "/tmp/a\u0000b" } }],
  ];
}
