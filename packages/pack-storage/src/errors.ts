import { shortPath } from "./short-path";

/**
 * Every library of the product throws `AttuneError` (or a subclass) with a stable `code`.
 * Apps branch on `code` (never on message text) to pick an exit code or an HTTP status.
 */
export const ErrorCodes = {
  /** checksum mismatch; `expected` and `found` are set */
  EINTEGRITY: "EINTEGRITY",
  /** an I/O operation failed; `path` is set and `cause` is the system error */
  EIO: "EIO",
  /** a path that must exist does not */
  ENOENT: "ENOENT",
  /** a pack ref does not match ^[a-z][a-z0-9_-]+$ */
  EINVALID_REF: "EINVALID_REF",
  /** a version is not strict semver */
  EINVALID_VERSION: "EINVALID_VERSION",
  /** a checksum string is not `sha256:` + 64 hex */
  EINVALID_CHECKSUM: "EINVALID_CHECKSUM",
  /** a symlink where only regular files/directories are allowed */
  ESYMLINK: "ESYMLINK",
  /** a socket, FIFO or device where only regular files/directories are allowed */
  ESPECIAL_FILE: "ESPECIAL_FILE",
  /** a file name that is not valid UTF-8 */
  EBAD_FILENAME: "EBAD_FILENAME",
  /** a file changed size while it was being read */
  ECHANGED: "ECHANGED",
  /** generic bad user input (a field is named in `details.field`) */
  EINVALID_INPUT: "EINVALID_INPUT",
  /** pack.yaml missing or invalid */
  EMANIFEST: "EMANIFEST",
  /** registry index invalid */
  EINDEX: "EINDEX",
  /** archive entry refused by safe extraction */
  EUNSAFE_ARCHIVE: "EUNSAFE_ARCHIVE",
  /** archive exceeds a size/count cap */
  ETOO_LARGE: "ETOO_LARGE",
  /** network target refused by the outbound policy */
  EPOLICY: "EPOLICY",
  /** a download or remote operation failed */
  EFETCH: "EFETCH",
  /** a timeout elapsed */
  ETIMEOUT: "ETIMEOUT",
  /** an unknown ref/pack/registry/row */
  ENOTFOUND: "ENOTFOUND",
  /** already exists / unique violation / needs force */
  ECONFLICT: "ECONFLICT",
  /** a dependency of a pack is not satisfied */
  EDEPENDENCY: "EDEPENDENCY",
  /** a lock could not be taken, or a held lock was lost */
  ELOCKED: "ELOCKED",
  /** the operation was cancelled by its caller (AbortSignal) */
  EABORTED: "EABORTED",
  /** authentication required / failed */
  EUNAUTHORIZED: "EUNAUTHORIZED",
  /** authenticated but missing a scope */
  EFORBIDDEN: "EFORBIDDEN",
  /** configuration invalid */
  ECONFIG: "ECONFIG",
  /** database error that is not the caller's fault */
  EDATABASE: "EDATABASE",
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes] | (string & {});

export interface AttuneErrorOptions {
  /** a short actionable hint for the user ("pass --force to replace it") */
  hint?: string;
  cause?: unknown;
  /** the filesystem path concerned, when any */
  path?: string;
  /** structured details (field name, limits, lists of files, ...) */
  details?: Record<string, unknown>;
}

export class AttuneError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  readonly path?: string;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: AttuneErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AttuneError";
    this.code = code;
    this.hint = options.hint;
    this.path = options.path;
    this.details = options.details;
  }
}

/** Checksum mismatch (cf. ssri's EINTEGRITY): carries what was expected and what was found. */
export class IntegrityError extends AttuneError {
  readonly expected: string;
  readonly found: string;
  /** what was found, when it says more than `found` (two checksums of different kinds, their origin) */
  readonly foundText: string | undefined;
  constructor(expected: string, found: string, options: AttuneErrorOptions & { foundText?: string } = {}) {
    super(
      ErrorCodes.EINTEGRITY,
      `checksum mismatch: expected ${expected}, found ${options.foundText ?? found}`,
      {
        hint: "the content is not what was expected; do not trust it",
        ...options,
        details: { expected, found, ...options.details },
      },
    );
    this.name = "IntegrityError";
    this.expected = expected;
    this.found = found;
    this.foundText = options.foundText;
  }
}

export function isAttuneError(err: unknown): err is AttuneError {
  return err instanceof Error && typeof (err as { code?: unknown }).code === "string" && "hint" in err;
}

/** One setting that is not valid: which (an environment variable or a config.yaml key), what is wrong, how to mend it. */
export interface SettingProblem {
  field: string;
  message: string;
  hint?: string;
}

/**
 * Read several settings and report every bad one at once, not only the first: an operator who set
 * three variables wrong learns of all three from one start. `read()` runs one reading and keeps the
 * ECONFIG it throws (one that already lists several, in `details.problems`, is flattened); any other
 * error is thrown at once. `add()` does the same with an error caught elsewhere (a rejected promise). `done()` then throws the single problem as it was, or one ECONFIG listing
 * them all: messages joined with "; ", hints with " | ", `details.problems` one per setting,
 * `details.field` the first (`extra`: the listing error's path and further details).
 */
export class SettingChecks {
  private readonly errors: AttuneError[] = [];

  read<T>(reading: () => T): T | undefined {
    try {
      return reading();
    } catch (err) {
      this.add(err);
      return undefined;
    }
  }

  /** Keep an error already caught, as read() keeps one: an ECONFIG is kept, anything else thrown. */
  add(err: unknown): void {
    if (!isAttuneError(err) || err.code !== ErrorCodes.ECONFIG) throw err;
    this.errors.push(err);
  }

  done(extra: { path?: string; details?: Record<string, unknown> } = {}): void {
    if (this.errors.length === 0) return;
    if (this.errors.length === 1) throw this.errors[0];
    const problems = this.errors.flatMap(problemsOf);
    const hints = problems.flatMap((p) => (p.hint ? [p.hint] : []));
    throw new AttuneError(ErrorCodes.ECONFIG, problems.map((p) => p.message).join("; "), {
      hint: hints.length > 0 ? hints.join(" | ") : undefined,
      path: extra.path,
      details: { ...extra.details, field: problems[0]?.field ?? "", problems },
    });
  }
}

/** The problems an ECONFIG names: those it lists, else itself. */
function problemsOf(err: AttuneError): SettingProblem[] {
  const listed = err.details?.problems;
  if (Array.isArray(listed) && listed.length > 0) return listed as SettingProblem[];
  const field = typeof err.details?.field === "string" ? err.details.field : "";
  return [{ field, message: err.message, ...(err.hint ? { hint: err.hint } : {}) }];
}

/**
 * The same error in a caller's terms: a layer that names an input differently from the layer below
 * (a request's `refSpec` for a source's `ref`, a CLI flag `--git-ref` for an option `gitRef`) renames
 * `details.field` and rewrites the message and hint with `rewrite`. Same code; the original is the cause.
 */
export function renameField(
  err: AttuneError,
  field: string,
  rewrite: (text: string) => string = (text) => text,
): AttuneError {
  return new AttuneError(err.code, rewrite(err.message), {
    hint: err.hint && rewrite(err.hint),
    path: err.path,
    cause: err,
    details: { ...err.details, field },
  });
}

/**
 * Wrap a Node system error as EIO naming the path; AttuneErrors pass through unchanged. `access`
 * says what was being done, for the hint: a permission problem on a `read` is about the files being
 * read (a pack, a staged tree), not about where Attune writes. A long path (a tree deeper than
 * PATH_MAX) is shortened in the message; `path` keeps it whole.
 */
export function ioError(err: unknown, path: string, action: string, access: IoAccess = "write"): AttuneError {
  if (err instanceof AttuneError) return err;
  const sys = err as NodeJS.ErrnoException;
  const shown = shortPath(path);
  const hint = ioHint(sys?.code, access);
  if (sys?.code === "ENOENT") {
    return new AttuneError(ErrorCodes.ENOENT, `${action} ${shown}: no such file or directory`, {
      path,
      cause: err,
      hint,
    });
  }
  return new AttuneError(ErrorCodes.EIO, `${action} ${shown}: ${systemText(sys, err)}`, {
    path,
    cause: err,
    hint,
    details: sys?.code ? { syscallCode: sys.code } : undefined,
  });
}

/** Whether an I/O error happened reading (a pack's files, a staged tree) or writing (Attune's own places). */
export type IoAccess = "read" | "write";

/** The hint `ioError` gives for a system error code (undefined when there is nothing to say). */
export function ioHint(code: string | undefined, access: IoAccess): string | undefined {
  if (!code) return undefined;
  return (access === "read" ? READ_HINTS[code] : undefined) ?? IO_HINTS[code];
}

/** The system error's own text, with long paths in it shortened as in the message. */
function systemText(sys: NodeJS.ErrnoException | undefined, err: unknown): string {
  let text = sys?.message ?? String(err);
  const dest = (sys as { dest?: unknown } | undefined)?.dest;
  for (const p of [sys?.path, dest]) {
    if (typeof p === "string" && shortPath(p) !== p) text = text.split(p).join(shortPath(p));
  }
  return text;
}

/** Reading what a user gave (a pack to hash, a staged tree): the mend is on that side. */
const READ_HINTS: Record<string, string> = {
  ENOENT: "check the path: nothing is there (or it was moved or deleted meanwhile)",
  EACCES:
    "the user running attune cannot read that file or directory (or search a directory above it): fix its permissions or owner",
  EPERM: "reading it is not permitted (a security module or an access rule): check its permissions",
  ENOTDIR: "a part of that path is a file, not a directory: check the path",
  ELOOP: "the path goes through too many symbolic links (a loop?): check the links in it",
};

/** What an operator can do about the system errors that are theirs to mend. */
const IO_HINTS: Record<string, string> = {
  ENOSPC: "the filesystem is full: free space there, then retry (nothing half-done is kept)",
  EDQUOT: "the disk quota is used up: free space or raise the quota, then retry",
  EROFS: "the filesystem is mounted read-only: use a writable location (ATTUNE_HOME / --packs-dir)",
  EACCES: "this user may not write there: fix the permissions or owner, or use another ATTUNE_HOME",
  EPERM: "the operation is not permitted there (permissions, or an immutable file: chattr -i)",
  EMFILE: "too many open files: raise the limit (ulimit -n) and retry",
  ENOTDIR:
    "a part of that path is a file, not a directory: check the path (ATTUNE_HOME, --home, --packs-dir) names a directory",
  // what mkdir says when the directory to make is a file already
  EEXIST:
    "something that is not a directory is already there: check the path (ATTUNE_HOME, --home, --packs-dir) names a directory, or move that file away",
  ENAMETOOLONG:
    "the path is longer than the system allows (PATH_MAX, 4096 bytes on Linux): use a shorter location or a shallower tree with shorter names",
};
