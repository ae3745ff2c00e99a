import { describe, expect, it } from "@jest/globals";
import { serveRoutes } from "../src";

describe("serveRoutes", () => {
  it("serves registered files and 404s unknown paths", async () => {
    const s = await serveRoutes();
    try {
      s.file("/a.txt", "hello", "text/plain");
      const ok = await fetch(`${s.url}/a.txt`);
      expect(ok.status).toBe(200);
      expect(await ok.text()).toBe("hello");
      const missing = await fetch(`${s.url}/nope`);
      expect(missing.status).toBe(404);
      expect(s.requests.map((r) => r.path)).toEqual(["/a.txt", "/nope"]);
    } finally {
      await s.close();
    }
  });
});
