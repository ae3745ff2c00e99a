/** API tokens live in the database the API reads (local store or DATABASE_URL), never in remote mode. */
import { openDatabase, repositories, type TokenScope } from "@attune/db";
import { SCOPES } from "../commands/token";
import { CliError } from "../errors";
import type { GlobalArgs } from "../globals";
import { keyValues, shortDate, table, type CommandResult } from "../output";
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

export async function tokenCreate(
  argv: GlobalArgs & { name: string; scopes?: string },
): Promise<CommandResult> {
  const scopes = parseScopes(argv.scopes);
  if (!argv.name.trim()) throw new CliError("EUSAGE", "--name must not be empty", { hint: "e.g. --name ci" });
  if (argv.name.length > TOKEN_NAME_MAX)
    throw new CliError("EUSAGE", `--name is longer than ${TOKEN_NAME_MAX} characters`, {
      hint: "give a short name to recognise the token by, e.g. --name ci-deploy",
    });
  const { row, secret } = await withTokens(argv, (t) => t.create({ name: argv.name, scopes }));
  const r = row as unknown as Record<string, unknown>;
  const data = { id: r.id as number, name: r.name as string, scopes: r.scopes as string[], token: secret };
  return {
    data,
    table: () =>
      keyValues([
        ["id", data.id],
        ["name", data.name],
        ["scopes", data.scopes.join(",")],
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
            ["id", "name", "prefix", "scopes", "created", "last used", "status"],
            list.map((t) => [
              t.id,
              t.name,
              // what a leaked `att_…` secret starts with: find its id here
              t.prefix,
              t.scopes.map((x) => x.replace(/^packs:/, "")).join(","),
              shortDate(t.created),
              shortDate(t.last_used),
              t.revoked ? "revoked" : t.expires && Date.parse(t.expires) <= Date.now() ? "expired" : "active",
            ]),
            undefined,
            // the times too, to the second: "2026-11-27 09:42:…" says nothing (the scopes shrink)
            ["id", "name", "prefix", "created", "last used", "status"],
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
