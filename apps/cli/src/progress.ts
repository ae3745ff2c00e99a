/**
 * Progress on stderr for the fetch, extract, hash and store phases. Drawn only when stderr
 * is a TTY and --quiet is not set; otherwise every call is a no-op, so logs and pipes never
 * receive escape codes. NO_COLOR (and TERM=dumb) turn colours off but keep the spinner.
 */
import type { WriteStream } from "node:tty";

export interface ProgressUpdate {
  phase: string;
  bytes?: number;
  totalBytes?: number;
  files?: number;
  message?: string;
}

export interface Progress {
  update(u: ProgressUpdate): void;
  /** erase the line and stop the timer (safe to call twice) */
  done(): void;
}

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

export function colorEnabled(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(stream.isTTY) && !("NO_COLOR" in env) && env.TERM !== "dumb";
}

export function progressEnabled(quiet: boolean, stream: NodeJS.WriteStream = process.stderr): boolean {
  return !quiet && Boolean(stream.isTTY);
}

const NOOP: Progress = { update() {}, done() {} };

export function createProgress(enabled: boolean, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!enabled) return NOOP;
  const tty = stream as WriteStream;
  const color = colorEnabled(stream);
  const dumb = process.env.TERM === "dumb";
  const width = Math.max(10, (tty.columns || 80) - 1);
  let last: ProgressUpdate | undefined;
  let frame = 0;
  let stopped = false;
  const draw = () => {
    if (!last || stopped) return;
    const spin = FRAMES[frame++ % FRAMES.length];
    const text = `${color ? `\x1b[36m${spin}\x1b[39m` : spin} ${progressText(last, tty.columns || 80)}`;
    // a dumb terminal gets no cursor escape: the line is padded over instead
    stream.write(dumb ? `\r${text.padEnd(width)}` : `\r\x1b[K${text}`);
  };
  const timer = setInterval(draw, 100);
  timer.unref();
  return {
    update(u) {
      last = u;
      draw();
    },
    done() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      if (last) stream.write(dumb ? `\r${" ".repeat(width)}\r` : "\r\x1b[K");
    },
  };
}

/** The progress line's text (without the spinner), at most `columns - 3` characters. */
export function progressText(u: ProgressUpdate, columns: number): string {
  const parts = [u.phase.padEnd(8)];
  if (u.totalBytes && u.bytes !== undefined) {
    const ratio = Math.min(1, u.bytes / u.totalBytes);
    const width = 20;
    const full = Math.round(ratio * width);
    parts.push(
      `[${"=".repeat(full)}${" ".repeat(width - full)}]`,
      `${formatBytes(u.bytes)}/${formatBytes(u.totalBytes)}`,
    );
  } else if (u.bytes !== undefined) {
    parts.push(formatBytes(u.bytes));
  }
  if (u.files !== undefined) parts.push(`${u.files} file${u.files === 1 ? "" : "s"}`);
  if (u.message) parts.push(u.message);
  const line = parts.join(" ");
  return line.length > columns - 3 ? line.slice(0, columns - 4) + "…" : line;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}
