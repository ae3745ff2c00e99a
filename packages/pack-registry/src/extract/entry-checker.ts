import { AttuneError, ErrorCodes } from "@attune/pack-storage";
import { capHint, type ExtractLimits } from "./limits";
import { quoteName } from "../quote";

/** One archive member, as the tar and zip readers describe it before any byte is written. */
export interface ArchiveEntry {
  /** the name exactly as stored in the archive */
  name: string;
  kind: "file" | "directory" | "symlink" | "hardlink" | "special";
  /** permission bits from the archive (0 when unknown) */
  mode: number;
  /** the size the archive declares; the real bytes are counted again while writing */
  size: number;
  /** target of a link, for the error message */
  linkTarget?: string;
  /** a short name of the raw type, for the error message (e.g. "CharacterDevice") */
  rawType?: string;
}

interface Seen {
  name: string;
  directory: boolean;
  explicit: boolean;
}

// C0 controls, DEL and C1 controls (U+0080..U+009F, e.g. CSI): NUL truncates names in C tools, and
// the others only serve to confuse terminals and logs; no real pack needs them.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * What the checked entries are, for messages: an archive's entries by default; a repository's files
 * for git (whose errors also name the request's `source` field).
 */
export interface EntrySubject {
  noun: string;
  field?: string;
}
const ARCHIVE_ENTRY: EntrySubject = { noun: "archive entry" };

export function unsafe(entry: string, message: string, hint?: string, subject = ARCHIVE_ENTRY): AttuneError {
  return new AttuneError(ErrorCodes.EUNSAFE_ARCHIVE, `${subject.noun} "${quoteName(entry)}": ${message}`, {
    details: { entry, ...(subject.field ? { field: subject.field } : {}) },
    hint: hint ?? "the archive is refused as a whole; rebuild it without this entry",
  });
}

export function tooLarge(
  entry: string,
  message: string,
  limit: string,
  value: number,
  subject = ARCHIVE_ENTRY,
): AttuneError {
  return new AttuneError(ErrorCodes.ETOO_LARGE, `${subject.noun} "${quoteName(entry)}": ${message}`, {
    details: { entry, limit, value, ...(subject.field ? { field: subject.field } : {}) },
    hint: capHint(limit),
  });
}

/**
 * Key under which two names collide on a case-insensitive or normalising filesystem (macOS,
 * Windows): NFC, then each character's simple case fold (upper, then lower: σ/ς, µ/μ and ſ/s meet;
 * ß keeps its own key, as those filesystems map one character to one), and without the trailing
 * dots and spaces Windows drops from every component ("a.txt." is "a.txt" there).
 */
function foldKey(path: string): string {
  // NFC leaves ASCII as it is and plain lower-casing is its case fold: the common case stays cheap
  let key: string;
  if (ASCII.test(path)) key = path.toLowerCase();
  else {
    key = "";
    for (const ch of path.normalize("NFC")) {
      const upper = ch.toUpperCase();
      key += (upper.length === ch.length ? upper : ch).toLowerCase();
    }
  }
  return TRAILING.test(key) ? key.replace(/[. ]+(?=\/|$)/g, "") : key;
}
// eslint-disable-next-line no-control-regex -- the whole ASCII range
const ASCII = /^[\u0000-\u007f]*$/;
const TRAILING = /[. ](?:\/|$)/;

/**
 * Validates entries one by one, in archive order: path shape, type, declared sizes, count, depth and
 * collisions, as the entries stream in during the single extraction pass (so what is checked is
 * exactly what is written).
 * Returns the normalised relative path (components joined by "/"), or null for the root entry "./".
 */
export class EntryChecker {
  private readonly seen = new Map<string, Seen>();
  private count = 0;
  private declaredTotal = 0;

  constructor(
    private readonly limits: ExtractLimits,
    private readonly subject: EntrySubject = ARCHIVE_ENTRY,
  ) {}

  private unsafe(entry: string, message: string): AttuneError {
    return unsafe(entry, message, undefined, this.subject);
  }

  private tooLarge(entry: string, message: string, limit: string, value: number): AttuneError {
    return tooLarge(entry, message, limit, value, this.subject);
  }

  check(entry: ArchiveEntry): string | null {
    const parts = this.checkName(entry.name);
    if (parts === null) return null;
    const path = parts.join("/");
    // `.git` at any depth (a directory, a worktree's file) is not pack content: the checksum skips
    // it (DESIGN.md §3), so stored it would be files no verify could see changed, and a
    // `.git/config` can make git run commands (core.fsmonitor) for whoever runs git in the pack's
    // directory. Not written; counted, so a flood of them still meets the entry cap.
    // `.GIT`, `.Git`: git's own directory where names fold case (macOS, Windows), and refused by
    // git in a tree; stored here it would be checksummed, unlike `.git`, so one pack would hash two
    // ways across file systems
    const folded = parts.find((p) => p !== ".git" && p.toLowerCase() === ".git");
    if (folded !== undefined)
      throw this.unsafe(path, `"${folded}" is .git in another case (git's directory on macOS and Windows)`);
    if (parts.includes(".git")) {
      this.count += 1;
      if (this.count > this.limits.maxEntries)
        throw this.tooLarge(path, `more than ${this.limits.maxEntries} entries`, "maxEntries", this.count);
      return null;
    }
    this.checkKind(entry, path);
    if (entry.kind === "file") this.checkDeclaredSize(entry.size, path);
    // the entry and the directories it implies (a.b/c/d.txt alone creates a, a/b and a/b/c too)
    this.count += 1 + this.record(parts, entry.kind === "directory");
    if (this.count > this.limits.maxEntries) {
      throw this.tooLarge(
        path,
        `more than ${this.limits.maxEntries} entries (files and directories, implied ones included)`,
        "maxEntries",
        this.count,
      );
    }
    return path;
  }

  private checkName(name: string): string[] | null {
    if (name === "") throw this.unsafe(name, "empty name");
    if (CONTROL.test(name)) throw this.unsafe(name, "name holds a NUL or control character");
    if (name.includes("\ufffd")) throw this.unsafe(name, "name is not valid UTF-8");
    if (name.includes("\\")) throw this.unsafe(name, "name holds a backslash (a Windows path separator)");
    if (name.startsWith("/") || /^[A-Za-z]:/.test(name)) throw this.unsafe(name, "absolute path");
    let rest = name;
    while (rest.startsWith("./")) rest = rest.slice(2);
    // the same rule for `./C:/x` as for `C:/x` (how a tar of `.` names it), so one tree is refused
    // or not whichever way it was archived; zips get yauzl's identical check
    if (/^[A-Za-z]:/.test(rest)) throw this.unsafe(name, "absolute path (a drive letter)");
    if (rest.endsWith("/")) rest = rest.slice(0, -1);
    if (rest === "" || rest === ".") return null; // the archive's own root, as `tar -C dir .` writes it
    const parts = rest.split("/");
    for (const part of parts) {
      if (part === "..") throw this.unsafe(name, 'path holds a ".." component (zip-slip)');
      if (part === "" || part === ".") throw this.unsafe(name, 'path holds an empty or "." component');
      if (Buffer.byteLength(part) > 255) throw this.unsafe(name, "a path component is longer than 255 bytes");
    }
    if (parts.length > this.limits.maxDepth) {
      throw this.tooLarge(
        name,
        `path is ${parts.length} levels deep (cap ${this.limits.maxDepth})`,
        "maxDepth",
        parts.length,
      );
    }
    const bytes = Buffer.byteLength(rest);
    if (bytes > this.limits.maxPathBytes) {
      throw this.tooLarge(
        name,
        `path is ${bytes} bytes long (cap ${this.limits.maxPathBytes})`,
        "maxPathBytes",
        bytes,
      );
    }
    return parts;
  }

  private checkKind(entry: ArchiveEntry, path: string): void {
    if (entry.kind === "symlink") {
      throw this.unsafe(path, `symbolic link (-> ${quoteName(entry.linkTarget ?? "?")}) refused`);
    }
    if (entry.kind === "hardlink") {
      throw this.unsafe(path, `hard link (-> ${quoteName(entry.linkTarget ?? "?")}) refused`);
    }
    if (entry.kind === "special") {
      throw this.unsafe(
        path,
        `${entry.rawType ?? "special file"} refused: only regular files and directories`,
      );
    }
  }

  private checkDeclaredSize(size: number, path: string): void {
    const { maxEntryBytes, maxTotalBytes } = this.limits;
    if (size > maxEntryBytes) {
      throw this.tooLarge(
        path,
        `declares ${size} bytes (cap ${maxEntryBytes} per entry)`,
        "maxEntryBytes",
        size,
      );
    }
    this.declaredTotal += size;
    if (this.declaredTotal > maxTotalBytes) {
      throw this.tooLarge(
        path,
        `archive declares more than ${maxTotalBytes} bytes in total`,
        "maxTotalBytes",
        this.declaredTotal,
      );
    }
  }

  /**
   * Duplicates, case/Unicode collisions, and a file used as a directory are refused. The common case
   * (a new entry whose closest recorded ancestor is a directory of exactly that name) is settled
   * from the bottom up: an entry's ancestors are recorded with it and never change, so nothing above
   * that ancestor needs another look. Anything else takes the full check from the top down.
   */
  private record(parts: string[], directory: boolean): number {
    const full = parts.join("/");
    const key = foldKey(full);
    if (!this.seen.has(key)) {
      const missing: [string, string][] = []; // new ancestors and their keys, deepest first
      let end = full.length;
      let clean = true;
      for (let i = parts.length - 1; i >= 1; i--) {
        end -= parts[i].length + 1;
        const path = full.slice(0, end);
        const pathKey = foldKey(path);
        const prior = this.seen.get(pathKey);
        if (!prior) {
          missing.push([path, pathKey]);
          continue;
        }
        clean = prior.name === path && prior.directory;
        break;
      }
      if (clean) {
        for (const [path, pathKey] of missing)
          this.seen.set(pathKey, { name: path, directory: true, explicit: false });
        this.seen.set(key, { name: full, directory, explicit: true });
        return missing.length;
      }
    }
    return this.recordFromTop(parts, directory);
  }

  /** The same checks from the top down; the count of directories it newly implied. */
  private recordFromTop(parts: string[], directory: boolean): number {
    let implied = 0;
    for (let i = 1; i <= parts.length; i++) {
      const path = parts.slice(0, i).join("/");
      const last = i === parts.length;
      const key = foldKey(path);
      const prior = this.seen.get(key);
      if (!prior) {
        this.seen.set(key, { name: path, directory: !last || directory, explicit: last });
        if (!last) implied += 1;
        continue;
      }
      const full = parts.join("/");
      if (prior.name !== path) {
        throw this.unsafe(
          full,
          `"${quoteName(path)}" collides with "${quoteName(prior.name)}" after Unicode normalisation, case folding or the trailing dots and spaces Windows drops`,
        );
      }
      if (!last) {
        if (!prior.directory)
          throw this.unsafe(full, `"${quoteName(path)}" is a file but is used as a directory`);
        continue;
      }
      if (directory && prior.directory && !prior.explicit) {
        prior.explicit = true; // an explicit directory entry after its children is fine
        implied -= 1; // counted when it was implied; counted now as the entry itself
        continue;
      }
      throw this.unsafe(full, "duplicate entry");
    }
    return implied;
  }
}
