import { describe, expect, it } from "@jest/globals";
import { quoteName, quoteRemote } from "../src/quote";

describe("quoting outside text in messages", () => {
  it("quoteName escapes C0 controls and DEL as \\xNN and keeps everything else exactly", () => {
    expect(quoteName("a\u001b[31mb\u0000c\u007f")).toBe("a\\x1b[31mb\\x00c\\x7f");
    expect(quoteName("naïve/ファイル.txt")).toBe("naïve/ファイル.txt");
    // two names differing only in a control character still read differently
    expect(quoteName("a\tb")).not.toBe(quoteName("a\nb"));
  });

  it("quoteRemote escapes C0, C1 and bidirectional overrides as the CLI does, shows undecodable bytes as ?, cuts long text", () => {
    expect(quoteRemote("bad\u001b]0;title\u0007 \u009b2J \ufffd end")).toBe(
      "bad\\x1b]0;title\\x07 \\x9b2J ? end",
    );
    expect(quoteRemote("a \u202e evil \u2066")).toBe("a \\u202e evil \\u2066");
    // an escape is never cut in half
    expect(quoteRemote("abc\u001bdef", 5)).toBe("abc…");
    const long = "x".repeat(1000);
    expect(quoteRemote(long)).toBe(`${"x".repeat(300)}…`);
    expect(quoteRemote(long, 10)).toBe("xxxxxxxxxx…");
    expect(quoteRemote("short")).toBe("short");
  });
});
