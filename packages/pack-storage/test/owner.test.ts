import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import { describe, expect, it } from "@jest/globals";
import { isAbandoned, ownedSuffix, processAlive, processStart } from "../src/index";

const linux = fs.existsSync("/proc/self/stat");

describe("owner tags of internal entries", () => {
  it("this process's own entries are live; a dead pid's are abandoned", () => {
    const own = ownedSuffix();
    expect(own).toMatch(linux ? /^\d+\.\d+@[0-9a-f]{8}~[0-9a-f]{12}$/ : /^\d+@[0-9a-f]{8}~[0-9a-f]{12}$/);
    expect(isAbandoned(`core-1.0.0~${own}`, 0)).toBe(false);
    const dead = own.replace(/^\d+/, "999999999");
    expect(isAbandoned(`core-1.0.0~${dead}`, 0)).toBe(true);
    // another host's entry: only once it is older than the grace period
    const foreign = own.replace(/@[0-9a-f]{8}~/, "@00000000~");
    expect(isAbandoned(foreign, 60_000)).toBe(false);
    expect(isAbandoned(foreign, 25 * 3600_000)).toBe(true);
  });

  (linux ? it : it.skip)(
    "another PID namespace on this host (a container beside this one, same host name) is foreign: its pids are not judged here",
    () => {
      const tag = (key: string) => crypto.createHash("sha256").update(key).digest("hex").slice(0, 8);
      const ns = fs.readlinkSync("/proc/self/ns/pid");
      const own = ownedSuffix();
      expect(own.split("@")[1].slice(0, 8)).toBe(tag(`${os.hostname()}\0${ns}`));
      // a pid that does not exist here, tagged by a process of another namespace on this host (or by
      // a version that hashed the host name alone): it may well run there, so it is not removed ...
      for (const other of [tag(`${os.hostname()}\0pid:[1]`), tag(os.hostname())]) {
        const entry = `999999999.1@${other}~0123456789ab`;
        expect(isAbandoned(entry, 60_000)).toBe(false);
        // ... until it is older than the grace period, as another machine's
        expect(isAbandoned(entry, 25 * 3600_000)).toBe(true);
      }
      // the same pid tagged in this namespace is judged, and dead
      expect(isAbandoned(`999999999.1@${tag(`${os.hostname()}\0${ns}`)}~0123456789ab`, 0)).toBe(true);
    },
  );

  (linux ? it : it.skip)(
    "a pid that runs again, started at another time (a reused pid), is not the owner",
    async () => {
      const own = ownedSuffix();
      const [pidStart] = own.split("@");
      const [pid, start] = pidStart.split(".");
      // this very pid, started at another time: the entry of an earlier process with the same pid
      expect(isAbandoned(`${pid}.${Number(start) + 1}@${own.split("@")[1]}`, 0)).toBe(true);
      // a live child: its pid with its real start time is live, with another start time it is not
      const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 10_000)"]);
      try {
        await new Promise((r) => setTimeout(r, 200));
        const stat = fs.readFileSync(`/proc/${child.pid}/stat`, "latin1");
        const ticks = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
        const host = own.split("@")[1];
        expect(isAbandoned(`${child.pid}.${ticks}@${host}`, 0)).toBe(false);
        expect(isAbandoned(`${child.pid}.${Number(ticks) + 7}@${host}`, 0)).toBe(true);
        // a tag without a start time (an older version's) keeps the pid-only rule
        expect(isAbandoned(`${child.pid}@${host}`, 0)).toBe(false);
      } finally {
        child.kill("SIGKILL");
      }
    },
  );

  (linux ? it : it.skip)("processStart and processAlive tell a process from a later one with its pid", () => {
    const start = processStart();
    expect(start).toMatch(/^\d+$/);
    expect(processStart(process.pid)).toBe(start);
    expect(processAlive(process.pid, start)).toBe(true);
    expect(processAlive(process.pid, null)).toBe(true); // start unknown: the pid decides
    expect(processAlive(process.pid, `${Number(start) + 1}`)).toBe(false); // the pid, reused
    expect(processAlive(2 ** 22 + 1, null)).toBe(false); // above Linux's largest pid
    expect(processStart(2 ** 22 + 1)).toBeNull();
  });
});
