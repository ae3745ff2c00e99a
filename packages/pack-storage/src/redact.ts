/** Query parameters whose values are secrets (libpq's password and sslpassword, tokens, keys). */
const SECRET_PARAM = /pass|secret|token|key|credential|signature|^sig$|^auth$|^pwd?$/i;

/**
 * A URL fit to print: the password of its user-info part and the values of secret-looking query
 * parameters (`?password=`, `?sslpassword=`, `?token=`, …) become `***`. Text that does not parse
 * as a URL keeps its shape with anything that looks like a password hidden.
 */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // a password that broke the parse (`user:top/secret@host`): everything from the first `:` after
    // `//` to the last `@` before white space is hidden (more than the password at worst, never less)
    return url
      .replace(/\/\/([^:/@\s]*):\S*@/, "//$1:***@")
      .replace(
        /([?&#](?:[^=&#\s]*(?:pass|secret|token|key|credential|signature)[^=&#\s]*|sig|auth|pwd?)=)[^&#\s]*/gi,
        "$1***",
      );
  }
  let changed = false;
  if (u.password) {
    u.password = "***";
    changed = true;
  }
  for (const [name, value] of [...u.searchParams]) {
    if (SECRET_PARAM.test(name) && value !== "") {
      u.searchParams.set(name, "***");
      changed = true;
    }
  }
  // a fragment is never sent, but `#access_token=…` (OAuth's implicit flow) is a secret all the same
  if (u.hash.includes("=")) {
    const fragment = new URLSearchParams(u.hash.slice(1));
    let hidden = false;
    for (const [name, value] of [...fragment]) {
      if (SECRET_PARAM.test(name) && value !== "") {
        fragment.set(name, "***");
        hidden = true;
      }
    }
    if (hidden) {
      u.hash = fragment.toString();
      changed = true;
    }
  }
  return changed ? u.toString().replace(/%2A%2A%2A/g, "***") : url;
}

/** A URL inside free text: a scheme, `://`, then everything up to white space or a quote. */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]+/gi;

/**
 * Free text (an error message stored in a history, a log line) with every URL in it redacted as
 * redactUrl() does. Punctuation that ends a sentence after a URL (`.`, `,`, `)`, `;`, `:`) stays
 * outside it.
 */
export function redactUrlsIn(text: string): string {
  return text.replace(URL_IN_TEXT, (found) => {
    const url = found.replace(/[.,;:)\]]+$/, "");
    return redactUrl(url) + found.slice(url.length);
  });
}
