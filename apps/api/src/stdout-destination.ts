import fs from "node:fs";

/** How long one log line may wait for a full stdout pipe before it is dropped (ms). */
const FULL_PIPE_PATIENCE_MS = 2_000;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Where the production logger writes: each line straight to file descriptor 1, synchronously (a
 * crash loses nothing already logged). Unlike pino's default stream it never blocks shutdown:
 * once the reader of stdout is gone (EPIPE, say a log shipper died) logging stops for good, and a
 * pipe that stays full longer than FULL_PIPE_PATIENCE_MS costs that line, not the process. pino's
 * own stream retried a broken pipe for ever in its exit flush, so SIGTERM could not stop the API.
 */
export function stdoutDestination(fd = 1): { write(line: string): void; readonly broken: boolean } {
  let broken = false;
  return {
    get broken() {
      return broken;
    },
    write(line: string) {
      if (broken) return;
      const bytes = Buffer.from(line, "utf8");
      let off = 0;
      const deadline = Date.now() + FULL_PIPE_PATIENCE_MS;
      while (off < bytes.length) {
        try {
          off += fs.writeSync(fd, bytes, off, bytes.length - off);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          // a non-blocking pipe that is full: give its reader a moment, within the patience
          if ((code === "EAGAIN" || code === "EWOULDBLOCK") && Date.now() < deadline) {
            Atomics.wait(sleeper, 0, 0, 10);
            continue;
          }
          if (code !== "EAGAIN" && code !== "EWOULDBLOCK") broken = true; // EPIPE, EBADF, EIO...
          return;
        }
      }
    },
  };
}
