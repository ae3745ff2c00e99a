/** API tokens live in the database the API reads (local store or DATABASE_URL), never in remote mode. */
import { openDatabase, repositories, type TokenScope } from "@attune/db";
import { SCOPES } from "../commands/token";
import { CliError } from "../errors";
import type { GlobalArgs } from "../globals";
import { keyValues, shortDate, table, type CommandResult } from "../output";
import { printable } from "../printable";
import { databaseUrlError, loadSettings, storeOptions } from "./settings";

async function withTokens<T>(
  argv: GlobalArgs,
  fn: (tokens: ReturnType<typeof repositories>["tokens"]) => Promise<T>,
) {
  const settings = await loadSettings(argv);
  const { home, databaseUrl } = storeOptions(settings);
  const handle = await openDatabase({ home, databaseUrl }).catch((err: unknown) => {
    throw databaseUrlError(err, settings);
  });
  try {
    return await fn(repositories(handle.db).tokens);
  } finally {
    await handle.close();
  }
}

/** An empty cell (a wrapped list's next lines); `table` shows an empty value as "-". */
const BLANK = " ";

/** Token names are labels shown in tables and recorded as the actor of what a token does. */
const TOKEN_NAME_MAX = 100;

function parseScopes(raw: string | undefined): TokenScope[] {
  if (raw === undefined) return [...SCOPES] as TokenScope[];
  const scopes = [
    ...new Set(
      raw
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  ];
  const bad = scopes.filter((s) => !SCOPES.includes(s));
  if (scopes.length === 0 || bad.length > 0)
    throw new CliError("EUSAGE", `--scopes: unknown scope ${bad.join(", ") || "(empty)"}`, {
      hint: `use a comma-separated subset of ${SCOPES.join(",")}`,
    });
  return scopes as TokenScope[];
}

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 } as const;
/** The longest --expires-in: ten years (a longer-lived secret is one that is never rotated). */
const MAX_EXPIRES_DAYS = 3650;

/** `--expires-in 30d` as the time the token expires (from `now`), or undefined when not given. */
export function expiresAt(raw: string | undefined, now = Date.now()): Date | undefined {
  if (raw === undefined) return undefined;
  // any number of digits: a huge count is "longer than ten years" below, not a malformed one
  const m = /^([0-9]+)([mhdw])$/.exec(raw.trim());
  const hint = "e.g. --expires-in 30d (or 90m, 12h, 2w); leave it out for a token that does not expire";
  if (!m)
    throw new CliError(
      "EUSAGE",
      `--expires-in must be a whole number followed by m, h, d or w (minutes, hours, days, weeks), not ${JSON.stringify(raw)}`,
      { hint },
    );
  const [, count, unit] = m as unknown as [string, string, keyof typeof UNIT_MS];
  const ms = Number(count) * UNIT_MS[unit];
  if (ms === 0)
    throw new CliError("EUSAGE", `--expires-in ${raw.trim()} would make a token that has already expired`, {
      hint,
    });
  if (!(ms <= MAX_EXPIRES_DAYS * UNIT_MS.d))
    throw new CliError(
      "EUSAGE",
      `--expires-in ${raw.trim()} is longer than ten years (${MAX_EXPIRES_DAYS}d)`,
      {
        hint: `give at most ${MAX_EXPIRES_DAYS}d, or leave --expires-in out for a token that does not expire`,
      },
    );
  return new Date(now + ms);
}

function iso(d: unknown): string | null {
  return d instanceof Date ? d.toISOString() : typeof d === "string" ? d : null;
}

/** The stable JSON of a token row (never the secret nor its hash). */
function tokenJson(row: Record<string, unknown>) {
  return {
    id: row.id as number,
    name: row.name as string,
    prefix: row.prefix as string,
    scopes: row.scopes as string[],
    created: iso(row.createdAt),
    last_used: iso(row.lastUsedAt),
    expires: iso(row.expiresAt),
    revoked: iso(row.revokedAt),
  };
}

/**
 * Names are labels (several tokens may share one), but a second live token named like another is
 * more often a forgotten rotation than a wish: say which ones, and how to revoke them.
 */
function warnSameName(name: string, others: Array<Record<string, unknown>>): void {
  const live = others.filter(
    (t) =>
      t.name === name &&
      !t.revokedAt &&
      !(t.expiresAt instanceof Date && t.expiresAt.getTime() <= Date.now()),
  );
  if (live.length === 0) return;
  const ids = live.map((t) => String(t.id));
  const shown = printable(JSON.stringify(name));
  process.stderr.write(
    live.length === 1
      ? `attune: warning: token ${ids[0]} is also named ${shown}; the new token is created beside it (names are labels only): ` +
          `once the old one is unused, revoke it with \`attune token revoke ${ids[0]}\`\n`
      : `attune: warning: tokens ${ids.join(", ")} are also named ${shown}; the new token is created beside them (names are labels only): ` +
          `revoke each one that is unused with \`attune token revoke <id>\`\n`,
  );
}

export async function tokenCreate(
  argv: GlobalArgs & { name: string; scopes?: string; expiresIn?: string },
): Promise<CommandResult> {
  const scopes = parseScopes(argv.scopes);
  if (!argv.name.trim()) throw new CliError("EUSAGE", "--name must not be empty", { hint: "e.g. --name ci" });
  if (argv.name.length > TOKEN_NAME_MAX)
    throw new CliError("EUSAGE", `--name is longer than ${TOKEN_NAME_MAX} characters`, {
      hint: "give a short name to recognise the token by, e.g. --name ci-deploy",
    });
  const expires = expiresAt(argv.expiresIn);
  const { row, secret } = await withTokens(argv, async (t) => {
    const existing = await t.list();
    const created = await t.create({ name: argv.name, scopes, expiresAt: expires ?? null });
    if (!argv.quiet) warnSameName(argv.name, existing as unknown as Array<Record<string, unknown>>);
    return created;
  });
  const r = row as unknown as Record<string, unknown>;
  const data = {
    id: r.id as number,
    name: r.name as string,
    scopes: r.scopes as string[],
    expires: iso(r.expiresAt),
    token: secret,
  };
  return {
    data,
    table: () =>
      keyValues([
        ["id", data.id],
        ["name", data.name],
        ["scopes", data.scopes.join(",")],
        ["expires", data.expires ? shortDate(data.expires) : "never"],
        ["token", data.token],
      ]) + "\nThe token is shown only this once; store it now (e.g. as ATTUNE_TOKEN).\n",
  };
}

export async function tokenList(argv: GlobalArgs): Promise<CommandResult> {
  const list = (await withTokens(argv, (t) => t.list())).map((r) =>
    tokenJson(r as unknown as Record<string, unknown>),
  );
  return {
    data: list,
    table: () =>
      list.length === 0
        ? "No tokens (attune token create --name <name>).\n"
        : table(
            ["id", "name", "prefix", "scopes", "created", "last used", "expires", "status"],
            // the scopes as --scopes takes them, one a line (as `config show` wraps a list)
            list.flatMap((t) => {
              const [first = undefined, ...more] = t.scopes;
              return [
                [
                  t.id,
                  t.name,
                  // what a leaked `att_…` secret starts with: find its id here
                  t.prefix,
                  first,
                  shortDate(t.created),
                  shortDate(t.last_used),
                  shortDate(t.expires),
                  t.revoked
                    ? "revoked"
                    : t.expires && Date.parse(t.expires) <= Date.now()
                      ? "expired"
                      : "active",
                ],
                ...more.map((scope) => [BLANK, BLANK, BLANK, scope, BLANK, BLANK, BLANK, BLANK]),
              ];
            }),
            undefined,
            // nothing is cut: names, prefixes and scopes are typed next, and the times are to the
            // second ("2026-11-27 09:42:…" says nothing); the row runs past the edge instead
            ["id", "name", "prefix", "scopes", "created", "last used", "expires", "status"],
          ),
  };
}

export async function tokenRevoke(argv: GlobalArgs & { id: string }): Promise<CommandResult> {
  const given = String(argv.id).trim();
  if (!/^[1-9][0-9]{0,14}$/.test(given))
    throw new CliError(
      "EUSAGE",
      `token id must be a positive whole number, not ${JSON.stringify(String(argv.id))}`,
      {
        hint: "see `attune token list` for the ids",
      },
    );
  const id = Number(given);
  await withTokens(argv, (t) => t.revoke(id)).catch((err: unknown) => {
    if ((err as { code?: unknown }).code !== "ENOTFOUND") throw err;
    throw new CliError("ENOTFOUND", `no token has id ${id}`, { hint: "see `attune token list` for the ids" });
  });
  return { data: { id, revoked: true }, table: () => `Revoked token ${id}\n` };
}
