import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "@jest/globals";
import { tmpDir } from "@attune/test-utils";
import { stdoutDestination } from "../src/stdout-destination";

describe("stdoutDestination", () => {
  it("writes each line whole and in order", () => {
    const t = tmpDir("attune-api-dest-");
    try {
      const file = path.join(t.dir, "out.log");
      const fd = fs.openSync(file, "w");
      const dest = stdoutDestination(fd);
      const long = "é".repeat(100_000); // multi-byte, larger than one pipe buffer
      dest.write('{"a":1}\n');
      dest.write(`${long}\n`);
      fs.closeSync(fd);
      expect(fs.readFileSync(file, "utf8")).toBe(`{"a":1}\n${long}\n`);
      expect(dest.broken).toBe(false);
    } finally {
      t.cleanup();
    }
  });

  it("stops for good, without throwing or waiting, once its descriptor is gone (EBADF / EPIPE)", () => {
    const t = tmpDir("attune-api-dest-");
    try {
      const fd = fs.openSync(path.join(t.dir, "out.log"), "w");
      fs.closeSync(fd);
      const dest = stdoutDestination(fd);
      const started = Date.now();
      expect(() => dest.write("lost\n")).not.toThrow();
      expect(dest.broken).toBe(true);
      dest.write("also dropped\n");
      expect(Date.now() - started).toBeLessThan(500);
    } finally {
      t.cleanup();
    }
  });
});
