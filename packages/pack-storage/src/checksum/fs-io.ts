// File-descriptor helpers shared by the checksum code: promise wrappers over the callback fs API
// (cheaper per call than fs.promises/FileHandle) and sync variants for small files, each mapping
// system errors to AttuneError naming the path.
import fs from "node:fs";
import { AttuneError, ErrorCodes, ioError } from "../errors";
import { shortPath } from "../short-path";

// O_NONBLOCK: opening a FIFO swapped in after the walk must not block a libuv thread forever.
// O_NOFOLLOW: a symlink swapped in after the walk is refused by the kernel (ELOOP).
const OPEN_TREE_FILE = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;
const OPEN_USER_FILE = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK;

function openError(err: NodeJS.ErrnoException, path: string, followLinks: boolean): AttuneError {
  if (err.code === "ELOOP" && !followLinks)
    return symlinkError(path, { cause: err, hint: "replace the link with a copy of the file it points to" });
  return ioError(err, path, "cannot open", "read");
}

export function openFd(path: string, followLinks: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.open(path, followLinks ? OPEN_USER_FILE : OPEN_TREE_FILE, (err, fd) =>
      err ? reject(openError(err, path, followLinks)) : resolve(fd),
    );
  });
}

/** Open a file of a pack tree synchronously, refusing links (see readTreeFileSync for why sync). */
export function openTreeFileSync(path: string): number {
  try {
    return fs.openSync(path, OPEN_TREE_FILE);
  } catch (err) {
    throw openError(err as NodeJS.ErrnoException, path, false);
  }
}

export function fstatSyncChecked(fd: number, path: string): fs.Stats {
  try {
    return fs.fstatSync(fd);
  } catch (err) {
    throw ioError(err, path, "cannot stat", "read");
  }
}

export function readSyncChecked(
  fd: number,
  buf: Buffer,
  offset: number,
  length: number,
  position: number,
  path: string,
) {
  try {
    return fs.readSync(fd, buf, offset, length, position);
  } catch (err) {
    throw ioError(err, path, "cannot read", "read");
  }
}

export function fstatFd(fd: number, path: string): Promise<fs.Stats> {
  return new Promise((resolve, reject) => {
    fs.fstat(fd, (err, st) => (err ? reject(ioError(err, path, "cannot stat", "read")) : resolve(st)));
  });
}

export function readFd(
  fd: number,
  buf: Buffer,
  offset: number,
  length: number,
  position: number,
  path: string,
) {
  return new Promise<number>((resolve, reject) => {
    fs.read(fd, buf, offset, length, position, (err, n) =>
      err ? reject(ioError(err, path, "cannot read", "read")) : resolve(n),
    );
  });
}

/** Close without waiting: nothing useful can be done about a failed close of a read-only fd. */
export function closeFd(fd: number): void {
  fs.close(fd, () => undefined);
}

/** Fail unless the open file is a regular file; names the kind of special file found. */
export function assertRegular(st: fs.Stats, path: string): void {
  if (st.isFile()) return;
  if (st.isDirectory()) {
    throw new AttuneError(ErrorCodes.EINVALID_INPUT, `${shortPath(path)} is a directory, not a file`, {
      path,
      hint: "pass a file; a pack's directory is hashed with calculateDirectoryChecksum or verifyChecksum",
      details: { field: "path" },
    });
  }
  throw specialFileError(path, kindOf(st));
}

export function kindOf(st: {
  isFIFO(): boolean;
  isSocket(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
}) {
  if (st.isFIFO()) return "FIFO";
  if (st.isSocket()) return "socket";
  if (st.isCharacterDevice()) return "character device";
  if (st.isBlockDevice()) return "block device";
  return "special file";
}

/** Also the words of `pack install` for a special file in a pack's directory (pack-registry). */
/** A symbolic link where a pack's file or directory goes (the walk, an open, a staged tree's copy). */
export function symlinkError(
  path: string,
  extra: { cause?: unknown; hint?: string; details?: Record<string, unknown> } = {},
): AttuneError {
  return new AttuneError(
    ErrorCodes.ESYMLINK,
    `${shortPath(path)} is a symbolic link; packs may not contain links`,
    {
      path,
      hint: "replace the link with a copy of what it points to",
      ...extra,
    },
  );
}

export function specialFileError(path: string, kind: string): AttuneError {
  return new AttuneError(
    ErrorCodes.ESPECIAL_FILE,
    `${shortPath(path)} is a ${kind}; packs may only contain regular files and directories`,
    {
      path,
      hint: "move it out of the pack's directory",
      details: { kind },
    },
  );
}

export function changedError(path: string, expected: number, found: string): AttuneError {
  return new AttuneError(
    ErrorCodes.ECHANGED,
    `${shortPath(path)} changed while it was being read (size was ${expected} bytes, ${found})`,
    {
      path,
      hint: "make sure nothing writes to the pack while its checksum is computed, then retry",
      details: { expectedSize: expected },
    },
  );
}
