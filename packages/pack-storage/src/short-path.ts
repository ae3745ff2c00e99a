/** Paths longer than this are shortened in messages (a tree deeper than PATH_MAX has ~10 KB ones). */
const SHOW_MAX = 240;
const HEAD = 96;
const TAIL = 120;

/**
 * A path as shown in a message: whole when short, else its start and end around an ellipsis, so
 * that both the place and the file stay recognisable. `err.path` keeps the whole path.
 */
export function shortPath(p: string): string {
  return p.length <= SHOW_MAX ? p : `${p.slice(0, HEAD)}…${p.slice(-TAIL)}`;
}
