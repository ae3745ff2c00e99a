// Terminal-safe text, shared by tables and error lines (a module of its own: errors.ts loads at start-up).

// eslint-disable-next-line no-control-regex -- the point is to find them
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text from outside (a pack's label, a file name, a remote's message) made safe for a terminal,
 * on one line: line breaks become spaces, and control characters (escape sequences that recolour,
 * move the cursor, set the title or hide a line) and bidirectional overrides are shown as \xNN /
 * \uNNNN instead of being obeyed.
 */
export function printable(text: string): string {
  return escapeUnprintable(text.replace(/\s*\n\s*/g, " "));
}

/**
 * A name (a file in a pack) made safe for a terminal: like printable(), but a line break is shown
 * as \x0a too, never folded into a space, so a file named "a<LF>b" cannot pass for one named "a b".
 */
export function printableName(name: string): string {
  return escapeUnprintable(name);
}

function escapeUnprintable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    return code > 0xff
      ? `\\u${code.toString(16).padStart(4, "0")}`
      : `\\x${code.toString(16).padStart(2, "0")}`;
  });
}
