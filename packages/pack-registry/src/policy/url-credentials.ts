/**
 * Whether a URL carries a user name or password (`https://user:token@host/...`). Registries and
 * indexes refuse such URLs when they are read, so a secret never reaches a listing, a message or
 * the install history; credentials for a registry go in its `headers`.
 */
export function urlHasCredentials(url: string): boolean {
  try {
    return carriesCredentials(new URL(url));
  } catch {
    return /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(url);
  }
}

/** Whether a parsed URL carries a user name or password. */
export function carriesCredentials(u: URL): boolean {
  return u.username !== "" || u.password !== "";
}

export const NO_CREDENTIALS_MESSAGE =
  "must not contain a user name or password (give a registry's credentials as headers)";
