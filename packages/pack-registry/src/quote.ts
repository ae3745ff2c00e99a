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
 * (C0 and C1) and undecodable bytes shown as "?", and at most `max` characters of it.
 */
export function quoteRemote(text: string, max = 300): string {
  // eslint-disable-next-line no-control-regex -- the point is to replace them
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\ufffd]/g, "?");
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}
