import { describe, expect, it } from "@jest/globals";
import { EntryChecker, type ArchiveEntry } from "../src/extract/entry-checker";
import { resolveLimits } from "../src/extract/limits";

const file = (name: string): ArchiveEntry => ({ name, kind: "file", mode: 0o644, size: 1 });
const dir = (name: string): ArchiveEntry => ({ name, kind: "directory", mode: 0o755, size: 0 });

/** Feed the entries in order; the message of the first refusal, or null when all pass. */
function refusal(...entries: ArchiveEntry[]): string | null {
  const checker = new EntryChecker(resolveLimits());
  try {
    for (const e of entries) checker.check(e);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

describe("EntryChecker: duplicates and collisions, whatever the depth and order", () => {
  it("accepts a tree listed parents first, children first, or without directory entries", () => {
    expect(refusal(dir("a/"), dir("a/b/"), file("a/b/c.txt"), file("a/b/d.txt"), file("a/e"))).toBeNull();
    // an explicit directory entry after its children (some archivers write them last)
    expect(refusal(file("a/b/c.txt"), dir("a/b/"), dir("a/"), file("a/x"))).toBeNull();
    expect(refusal(file("x/y/z/1"), file("x/y/z/2"), file("x/y/3"), file("x/4"), file("5"))).toBeNull();
  });

  it("refuses the same name twice, as a file or as an explicit directory", () => {
    expect(refusal(file("a/b.txt"), file("a/b.txt"))).toMatch(/"a\/b.txt": duplicate entry/);
    expect(refusal(dir("a/"), file("a/x"), dir("a/"))).toMatch(/"a": duplicate entry/);
    expect(refusal(file("a/x"), dir("a/x/"))).toMatch(/"a\/x": duplicate entry/);
  });

  it("refuses a file used as a directory, naming the file, at any depth", () => {
    expect(refusal(file("a"), file("a/b"))).toMatch(/"a" is a file but is used as a directory/);
    expect(refusal(file("p/q/r"), file("p/q/r/s/t"))).toMatch(
      /"p\/q\/r" is a file but is used as a directory/,
    );
  });

  it("names the highest colliding component, as a case-insensitive filesystem would see it", () => {
    // the collision is at the top ("Docs" vs "docs"), even though the parent "docs/guide" is new
    expect(refusal(file("Docs/a.md"), file("docs/guide/b.md"))).toMatch(
      /"docs" collides with "Docs" after Unicode normalisation, case folding or the trailing dots/,
    );
    expect(refusal(dir("x/Y/"), file("x/y/z"))).toMatch(/"x\/y" collides with "x\/Y"/);
    expect(refusal(file("README.md"), file("readme.md"))).toMatch(/"readme.md" collides with "README.md"/);
  });

  it("folds Unicode too: NFC and NFD spellings and non-ASCII case collide", () => {
    expect(refusal(file("caf\u00e9/a"), file("cafe\u0301/b"))).toMatch(/collides with "caf\u00e9"/);
    expect(refusal(file("\u00c9t\u00e9.txt"), file("\u00e9t\u00e9.txt"))).toMatch(/collides/);
    // distinct non-ASCII names pass
    expect(refusal(file("\u00e9t\u00e9/a"), file("\u00e9t\u00e9/b"), file("hiver/c"))).toBeNull();
  });
  it("folds case the way those filesystems do: σ/ς, µ/μ and ſ/s meet; ß and ss stay apart", () => {
    expect(refusal(file("\u03c3.txt"), file("\u03c2.txt"))).toMatch(/collides/);
    expect(refusal(file("\u00b5.txt"), file("\u03bc.txt"))).toMatch(/collides/);
    expect(refusal(file("\u017f.txt"), file("s.txt"))).toMatch(/collides/);
    expect(refusal(file("stra\u00dfe.txt"), file("strasse.txt"))).toBeNull();
  });

  it("treats the trailing dots and spaces Windows drops as absent", () => {
    expect(refusal(file("a.txt"), file("a.txt."))).toMatch(/"a.txt." collides with "a.txt"/);
    expect(refusal(file("dir /x"), file("dir/y"))).toMatch(/collides/);
    expect(refusal(file("a.txt"), file("a.txt.bak"), file(".hidden"), file("x/..y"))).toBeNull();
  });
});

describe("EntryChecker: names and counts", () => {
  it("refuses a drive letter with or without a leading ./ (one tree, one answer whoever archived it)", () => {
    for (const name of ["C:/x", "./C:/x", "a:b.txt", "./a:b.txt", "././c:x"])
      expect({ name, refused: refusal(file(name)) }).toEqual({
        name,
        refused: expect.stringMatching(/absolute path/),
      });
    expect(refusal(file("docs/a:b.txt"))).toBeNull(); // only a first component reads as a drive
  });

  it("refuses C1 control characters (U+0080..U+009F) like C0 ones", () => {
    expect(refusal(file("a\u009b2Jb.txt"))).toMatch(/control character/);
    expect(refusal(file("caf\u00e9 \u00a0.txt"))).toBeNull(); // U+00A0 is not a control character
  });

  it("counts the directories an entry implies against maxEntries, and an explicit one only once", () => {
    const checker = new EntryChecker(resolveLimits({ maxEntries: 10 }));
    // 2 files under one 4-level path: 4 implied directories + 2 files = 6
    checker.check(file("a/b/c/d/1"));
    checker.check(file("a/b/c/d/2"));
    checker.check(dir("a/b/")); // already implied: still 6
    checker.check(file("a/x")); // 7
    checker.check(file("e/f/g")); // e, f, g: 10
    expect(() => checker.check(file("h"))).toThrow(
      expect.objectContaining({
        code: "ETOO_LARGE",
        details: expect.objectContaining({ limit: "maxEntries", value: 11 }),
      }),
    );
    // deep paths cannot hide entries: 5 files each under its own 31-level path
    const deep = new EntryChecker(resolveLimits({ maxEntries: 10 }));
    expect(() => {
      for (let i = 0; i < 5; i++)
        deep.check(file(`${Array.from({ length: 30 }, (_, k) => `d${i}_${k}`).join("/")}/f`));
    }).toThrow(expect.objectContaining({ code: "ETOO_LARGE" }));
  });
});
