// Outside text quoted in this package's error messages, made safe to show in a terminal or a log.

/**
 * A name from an archive or a tree, exact but printable: control characters become `\xNN`, so two
 * names that differ only in them still read differently.
 */
export function quoteName(name: string): string {
  // eslint-disable-next-line no-control-regex -- the point is to escape them
  return name.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/**
 * Text a remote sent (e.g. isomorphic-git's "Expected ... but received ..."): control characters
 * (C0, DEL and C1) shown as `\xNN` and bidirectional overrides as `\uNNNN`, as the CLI shows any
 * outside text, undecodable bytes as "?", and at most `max` characters of it (an escape is never cut).
 */
export function quoteRemote(text: string, max = 300): string {
  let out = "";
  for (const c of text) {
    const shown = UNSAFE_IN_REMOTE_TEXT.test(c) ? escapeChar(c) : c === "\ufffd" ? "?" : c;
    if (out.length + shown.length > max) return `${out}…`;
    out += shown;
  }
  return out;
}

// eslint-disable-next-line no-control-regex -- the point is to escape them
const UNSAFE_IN_REMOTE_TEXT = /^[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]$/;

function escapeChar(c: string): string {
  const code = c.charCodeAt(0);
  return code > 0xff
    ? `\\u${code.toString(16).padStart(4, "0")}`
    : `\\x${code.toString(16).padStart(2, "0")}`;
}
