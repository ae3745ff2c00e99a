/**
 * Replaces the `string-width` package inside the bundled yargs/cliui (see tsup.config.ts).
 * The real one pulls in emoji-regex and Unicode width tables whose evaluation was the largest
 * single cost of `attune --help` start-up. Help text is ours and ASCII (plus "…"), so counting
 * code points after removing ANSI sequences gives the same layout.
 */
// eslint-disable-next-line no-control-regex -- matching ANSI escape sequences is the point
const ANSI = /\x1b\[[0-9;]*[A-Za-z]|\x1b\][^\x07]*\x07/g;

export default function stringWidth(text: string): number {
  if (typeof text !== "string" || text.length === 0) return 0;
  let width = 0;
  for (const ch of text.replace(ANSI, "")) {
    const cp = ch.codePointAt(0)!;
    if (cp >= 0x20 && !(cp >= 0x7f && cp < 0xa0) && !(cp >= 0x300 && cp < 0x370)) width++;
  }
  return width;
}
