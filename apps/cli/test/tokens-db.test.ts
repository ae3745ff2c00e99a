import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { tokenVerifierFromRepository } from "@attune/api";
import { openDatabase, repositories } from "@attune/db";
import { createTestDatabase, postgresAvailable, tmpDir } from "@attune/test-utils";
import { makePack } from "./fixtures";
import { baseEnv, json, runCli } from "./helpers";

type TokenJson = {
  id: number;
  name: string;
  scopes: string[];
  token?: string;
  expires?: string | null;
  revoked?: string | null;
};

async function tokenLifecycle(env: NodeJS.ProcessEnv) {
  const created = await runCli(
    ["token", "create", "--name", "ci", "--scopes", "packs:read,packs:install", "-o", "json"],
    { env },
  );
  expect({ code: created.code, stderr: created.stderr }).toEqual({ code: 0, stderr: "" });
  const tok = json<TokenJson>(created);
  expect(Object.keys(tok).sort()).toEqual(["expires", "id", "name", "scopes", "token"]);
  expect(tok.expires).toBeNull();
  expect(tok.scopes).toEqual(["packs:read", "packs:install"]);
  expect(tok.token).toMatch(/^att_/);
  const all = json<TokenJson>(await runCli(["token", "create", "--name", "all", "-o", "json"], { env }));
  expect(all.scopes.sort()).toEqual(["packs:delete", "packs:install", "packs:read"]);

  const list = await runCli(["token", "list", "-o", "json"], { env });
  expect(list.stdout).not.toContain(tok.token);
  expect(json<TokenJson[]>(list).map((x) => x.name)).toEqual(expect.arrayContaining(["ci", "all"]));
  const revoked = await runCli(["token", "revoke", String(tok.id), "-o", "json"], { env });
  expect(revoked.code).toBe(0);
  const after = json<TokenJson[]>(await runCli(["token", "list"], { env }));
  expect(after.find((x) => x.id === tok.id)?.revoked).toEqual(expect.any(String));
  const missing = await runCli(["token", "revoke", "99999"], { env });
  expect(missing.code).toBe(1);
  expect(missing.stderr).toBe(
    "attune: ENOTFOUND: no token has id 99999\nhint: see `attune token list` for the ids\n",
  );
  // the table shows each token's prefix, what a leaked secret starts with
  const named = await runCli(["token", "create", "--name", "release-pipeline-of-the-web-shop"], { env });
  expect(named.code).toBe(0);
  const table = await runCli(["token", "list", "-o", "table"], { env });
  expect(table.stdout).toContain(tok.token!.slice(0, 10));
  expect(table.stdout.split("\n")[0]).toMatch(
    /^ID +NAME +PREFIX +SCOPES +CREATED +LAST USED +EXPIRES +STATUS$/,
  );
  // its times are never cut, to the second, even when a long name leaves the row no room at 80 columns
  const rows = table.stdout.trimEnd().split("\n").slice(1);
  expect(rows.find((row) => row.includes("release-pipeline-of-the-web-shop"))).toBeDefined();
  // the scopes as --scopes takes them, whole, one a line
  const first = rows.findIndex((row) => row.startsWith(`${tok.id} `));
  expect(rows[first]).toMatch(new RegExp(`^${tok.id} +ci +${tok.token!.slice(0, 10)} +packs:read +\\d{4}-`));
  expect(rows[first + 1]).toMatch(/^ +packs:install$/);
  for (const row of rows)
    expect(row).toMatch(
      /^(\d+ .* \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ +- +- +(active|revoked)| +packs:(read|install|delete))$/,
    );
  expect(table.stdout).not.toContain("…");
  const long = await runCli(["token", "create", "--name", "x".repeat(101)], { env });
  expect(long.code).toBe(2);
  expect(long.stderr).toMatch(/^attune: EUSAGE: --name is longer than 100 characters/);
  for (const id of ["abc", "0", "1.5", "1e3"]) {
    const bad = await runCli(["token", "revoke", id], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`token id must be a positive whole number, not "${id}"`);
  }
  const badScope = await runCli(["token", "create", "--name", "x", "--scopes", "packs:everything"], { env });
  expect(badScope.code).toBe(2);

  // a second live token of a name: created all the same, with a warning naming the other's id
  const again = await runCli(["token", "create", "--name", "all", "-o", "json"], { env });
  expect(again.code).toBe(0);
  expect(again.stderr).toBe(
    `attune: warning: token ${all.id} is also named "all"; the new token is created beside it (names are labels only): ` +
      `once the old one is unused, revoke it with \`attune token revoke ${all.id}\`\n`,
  );
  const third = await runCli(["token", "create", "--name", "all", "-o", "json"], { env });
  expect(third.stderr).toMatch(
    new RegExp(`^attune: warning: tokens ${all.id}, ${json<TokenJson>(again).id} are also named "all"; `),
  );
  expect((await runCli(["token", "create", "--name", "all", "-q"], { env })).stderr).toBe("");
  // a revoked token of that name is no reason to warn ("ci" was revoked above)
  expect((await runCli(["token", "create", "--name", "ci"], { env })).stderr).toBe("");

  // --expires-in: the token carries its expiry, and the API's verifier refuses it from then on
  const before = Date.now();
  const expiring = await runCli(["token", "create", "--name", "short", "--expires-in", "90m", "-o", "json"], {
    env,
  });
  expect({ code: expiring.code, stderr: expiring.stderr }).toEqual({ code: 0, stderr: "" });
  const short = json<TokenJson>(expiring);
  const expires = Date.parse(short.expires!);
  expect(expires).toBeGreaterThanOrEqual(before + 90 * 60_000);
  expect(expires).toBeLessThanOrEqual(Date.now() + 90 * 60_000);
  const listed = json<TokenJson[]>(await runCli(["token", "list", "-o", "json"], { env }));
  expect(listed.find((x) => x.id === short.id)?.expires).toBe(short.expires);
  const handle = await openDatabase({ home: env.ATTUNE_HOME!, databaseUrl: env.DATABASE_URL });
  try {
    const tokens = repositories(handle.db).tokens;
    // the API's verifier, with the database's clock moved to a given time
    const at = (when: number) =>
      tokenVerifierFromRepository({ verify: (x) => tokens.verify(x, new Date(when)) });
    expect(await at(Date.now())(short.token!)).toMatchObject({ tokenId: short.id });
    expect(await at(expires - 1)(short.token!)).toMatchObject({ tokenId: short.id });
    expect(await at(expires)(short.token!)).toBeNull();
    expect(await at(expires + 86_400_000)(short.token!)).toBeNull();
  } finally {
    await handle.close();
  }
  for (const [given, message] of [
    ["30", /^attune: EUSAGE: --expires-in must be a whole number followed by m, h, d or w/],
    ["1.5d", /^attune: EUSAGE: --expires-in must be a whole number followed by m, h, d or w/],
    ["soon", /^attune: EUSAGE: --expires-in must be a whole number followed by m, h, d or w/],
    ["0h", /^attune: EUSAGE: --expires-in 0h would make a token that has already expired/],
    ["3651d", /^attune: EUSAGE: --expires-in 3651d is longer than ten years \(3650d\)/],
    ["99999999999d", /^attune: EUSAGE: --expires-in 99999999999d is longer than ten years \(3650d\)/],
    ["-5m", /^attune: EUSAGE: --expires-in must be a whole number followed by m, h, d or w/],
    ["", /^attune: EUSAGE: --expires-in needs a value/],
  ] as const) {
    const bad = await runCli(["token", "create", "--name", "x", `--expires-in=${given}`], { env });
    expect({ given, code: bad.code, stdout: bad.stdout }).toEqual({ given, code: 2, stdout: "" });
    expect(bad.stderr).toMatch(message);
    expect(bad.stderr).toMatch(/\nhint: /);
  }
  // as two words: a value starting with "-" is still its value, and a missing one is named
  for (const [argv, message] of [
    [
      ["--expires-in", "-5m"],
      /^attune: EUSAGE: --expires-in must be a whole number followed by m, h, d or w/,
    ],
    [
      ["--expires-in"],
      /^attune: EUSAGE: --expires-in needs a value\nhint: give it one, e.g. --expires-in 30d/,
    ],
  ] as const) {
    const bad = await runCli(["token", "create", "--name", "x", ...argv], { env });
    expect({ argv, code: bad.code, stdout: bad.stdout }).toEqual({ argv, code: 2, stdout: "" });
    expect(bad.stderr).toMatch(message);
  }
  const longest = await runCli(["token", "create", "--name", "long", "--expires-in", "3650d", "-o", "json"], {
    env,
  });
  expect(longest.code).toBe(0);
  // the table says when a token expires
  const shown = await runCli(["token", "list", "-o", "table"], { env });
  expect(shown.stdout).toMatch(
    new RegExp(
      `^${short.id} +short .* ${short.expires!.replace("T", " ").replace(/\.\d+Z$/, "Z")} +active$`,
      "m",
    ),
  );
}

describe("db migrate and tokens on the embedded SQLite store", () => {
  const t = tmpDir("attune-cli-tokens-");
  const env = baseEnv({ ATTUNE_HOME: path.join(t.dir, "home") });
  afterAll(() => t.cleanup());

  it("db migrate applies once and then reports nothing to do", async () => {
    const first = await runCli(["db", "migrate", "-o", "json"], { env });
    expect(first.code).toBe(0);
    const applied = json<{ applied: string[]; database_url: string }>(first);
    expect(applied.applied.length).toBeGreaterThan(0);
    expect(applied.database_url).toBe(`file:${path.join(t.dir, "home", "attune.db")}`);
    expect(json<{ applied: string[] }>(await runCli(["db", "migrate"], { env })).applied).toEqual([]);
  });

  it("token create/list/revoke", () => tokenLifecycle(env));

  it("a bad DATABASE_URL is one clear line (exit 1)", async () => {
    const r = await runCli(["db", "migrate"], { env: { ...env, DATABASE_URL: "mysql://nope/db" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^attune: ECONFIG: /);
  });
});

describe("the same commands on PostgreSQL (DATABASE_URL)", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  const t = tmpDir("attune-cli-pg-");
  beforeAll(async () => {
    if (await postgresAvailable()) db = await createTestDatabase("attune_cli");
  });
  afterAll(async () => {
    await db?.drop();
    t.cleanup();
  });
  const env = () => baseEnv({ ATTUNE_HOME: path.join(t.dir, "home"), DATABASE_URL: db!.url });

  it("db migrate, tokens, and a pack install recorded in PostgreSQL", async () => {
    if (!db) return; // PostgreSQL unreachable and not required (postgresRequired() would have thrown)
    const m = await runCli(["db", "migrate", "-o", "json"], { env: env() });
    expect({ code: m.code, stderr: m.stderr }).toEqual({ code: 0, stderr: "" });
    expect(json<{ applied: string[] }>(m).applied.length).toBeGreaterThan(0);
    await tokenLifecycle(env());
    const src = makePack(path.join(t.dir, "pg-pack"), "pg_pack", "1.0.0");
    const r = await runCli(["pack", "install", src, "-o", "json"], { env: env() });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    const list = json<Array<{ pack: { ref: string } }>>(await runCli(["pack", "list"], { env: env() }));
    expect(list.map((x) => x.pack.ref)).toEqual(["pg_pack"]);
    // sslmode as libpq reads it: the test server has no TLS, so require fails with one clear error
    // and a hint, and the pg driver's SECURITY WARNING about its own reading is not printed
    const tls = await runCli(["pack", "list"], {
      env: { ...env(), DATABASE_URL: `${db.url}?sslmode=require` },
    });
    expect(tls.code).toBe(1);
    expect(tls.stderr).toMatch(
      /^attune: EDATABASE: .*: The server does not support SSL connections\nhint: the server does not accept TLS/,
    );
    expect(tls.stderr).not.toContain("WARNING");
    const plain = await runCli(["pack", "list", "-o", "json"], {
      env: { ...env(), DATABASE_URL: `${db.url}?sslmode=disable` },
    });
    expect({ code: plain.code, stderr: plain.stderr }).toEqual({ code: 0, stderr: "" });
  });
});
