import { describe, expect, it } from "@jest/globals";
import {
  AttuneError,
  ErrorCodes,
  IntegrityError,
  ioError,
  redactUrl,
  redactUrlsIn,
  renameField,
  SettingChecks,
} from "../src/index";

describe("SettingChecks", () => {
  const bad = (field: string, hint?: string) => () => {
    throw new AttuneError(ErrorCodes.ECONFIG, `${field} is wrong`, { hint, details: { field } });
  };
  const thrown = (fn: () => void): AttuneError => {
    try {
      fn();
    } catch (e) {
      return e as AttuneError;
    }
    throw new Error("expected a throw");
  };

  it("returns each reading, and done() is quiet when all succeeded", () => {
    const checks = new SettingChecks();
    expect(checks.read(() => 42)).toBe(42);
    expect(checks.read(() => "x")).toBe("x");
    expect(() => checks.done()).not.toThrow();
  });

  it("throws a single bad setting as it was (the same error)", () => {
    const checks = new SettingChecks();
    const original = thrown(bad("A", "fix A"));
    expect(checks.read(() => 1)).toBe(1);
    expect(
      checks.read(() => {
        throw original;
      }),
    ).toBeUndefined();
    expect(thrown(() => checks.done())).toBe(original);
  });

  it("reports every bad setting at once: messages and hints joined, one problem each, nested lists flattened", () => {
    const checks = new SettingChecks();
    checks.read(bad("A", "fix A"));
    checks.read(() => 7);
    checks.read(() => {
      const inner = new SettingChecks();
      inner.read(bad("B", "fix B"));
      inner.read(bad("C")); // no hint
      inner.done();
    });
    const e = thrown(() => checks.done());
    expect(e.code).toBe("ECONFIG");
    expect(e.message).toBe("A is wrong; B is wrong; C is wrong");
    expect(e.hint).toBe("fix A | fix B");
    expect(e.details).toEqual({
      field: "A",
      problems: [
        { field: "A", message: "A is wrong", hint: "fix A" },
        { field: "B", message: "B is wrong", hint: "fix B" },
        { field: "C", message: "C is wrong" },
      ],
    });
  });

  it("an ECONFIG that lists no problems still counts (as itself)", () => {
    const checks = new SettingChecks();
    const empty = new AttuneError(ErrorCodes.ECONFIG, "odd", { details: { field: "X", problems: [] } });
    checks.read(() => {
      throw empty;
    });
    expect(thrown(() => checks.done())).toBe(empty);
    const two = new SettingChecks();
    two.read(() => {
      throw empty;
    });
    two.read(bad("A"));
    expect(
      (thrown(() => two.done()).details?.problems as Array<{ field: string }>).map((p) => p.field),
    ).toEqual(["X", "A"]);
  });

  it("throws any other error at once, without waiting for done()", () => {
    const checks = new SettingChecks();
    checks.read(bad("A"));
    const io = new AttuneError(ErrorCodes.EIO, "disk on fire");
    expect(
      thrown(() =>
        checks.read(() => {
          throw io;
        }),
      ),
    ).toBe(io);
    const plain = new TypeError("bug");
    expect(
      thrown(() =>
        checks.read(() => {
          throw plain;
        }),
      ),
    ).toBe(plain);
  });

  it("add() keeps an ECONFIG caught elsewhere as read() would, and throws anything else", () => {
    const checks = new SettingChecks();
    const io = new AttuneError(ErrorCodes.EIO, "disk on fire");
    expect(thrown(() => checks.add(io))).toBe(io);
    checks.add(thrown(bad("A", "fix A")));
    checks.read(bad("B"));
    expect(
      (thrown(() => checks.done()).details?.problems as Array<{ field: string }>).map((p) => p.field),
    ).toEqual(["A", "B"]);
  });
});

describe("renameField", () => {
  it("renames details.field, rewrites message and hint, keeps code, path, other details and the cause", () => {
    const original = new AttuneError(ErrorCodes.EINVALID_INPUT, "gitRef: must not start with '-'", {
      hint: "give gitRef as a tag or branch",
      path: "/some/pack",
      details: { field: "gitRef", ref: "-x" },
    });
    const renamed = renameField(original, "--git-ref", (t) => t.replace(/gitRef/g, "--git-ref"));
    expect(renamed).toBeInstanceOf(AttuneError);
    expect(renamed.code).toBe(ErrorCodes.EINVALID_INPUT);
    expect(renamed.message).toBe("--git-ref: must not start with '-'");
    expect(renamed.hint).toBe("give --git-ref as a tag or branch");
    expect(renamed.path).toBe("/some/pack");
    expect(renamed.details).toEqual({ field: "--git-ref", ref: "-x" });
    expect(renamed.cause).toBe(original);
    // the original is untouched
    expect(original.details).toEqual({ field: "gitRef", ref: "-x" });
  });

  it("leaves the text alone without a rewrite, and an error without a hint keeps none", () => {
    const original = new IntegrityError("sha256:" + "a".repeat(64), "sha256:" + "b".repeat(64));
    const renamed = renameField(original, "checksum");
    expect(renamed.message).toBe(original.message);
    expect(renamed.code).toBe(ErrorCodes.EINTEGRITY);
    expect(renamed.details).toMatchObject({ field: "checksum", expected: original.expected });
    const bare = renameField(new AttuneError(ErrorCodes.ENOTFOUND, "no such ref"), "refSpec");
    expect(bare.hint).toBeUndefined();
    expect(bare.details).toEqual({ field: "refSpec" });
  });
});

describe("ioError", () => {
  const sys = (code: string) => Object.assign(new Error(`${code}: some system message`), { code });
  it("gives the mend for a full disk, a read-only mount or a permission problem", () => {
    expect(ioError(sys("ENOSPC"), "/x/.journal/a.json", "cannot write").hint).toMatch(/full: free space/);
    expect(ioError(sys("EROFS"), "/x", "cannot write").hint).toMatch(/read-only/);
    expect(ioError(sys("EACCES"), "/x", "cannot write").hint).toMatch(/permissions/);
    const e = ioError(sys("ENOSPC"), "/x", "cannot write");
    expect(e.code).toBe(ErrorCodes.EIO);
    expect(e.details).toEqual({ syscallCode: "ENOSPC" });
  });
  it("adds no hint it does not have, and ENOENT stays ENOENT", () => {
    expect(ioError(sys("EBADF"), "/x", "cannot read").hint).toBeUndefined();
    expect(ioError(sys("ENOENT"), "/x", "cannot read").code).toBe(ErrorCodes.ENOENT);
  });
});

describe("redactUrl / redactUrlsIn", () => {
  it("hide passwords and secret query values, in a URL and in free text", () => {
    expect(redactUrl("https://u:pw@h.example/x.tgz?token=abc&v=1")).toBe(
      "https://u:***@h.example/x.tgz?token=***&v=1",
    );
    expect(redactUrl("https://h.example/x.tgz?v=1")).toBe("https://h.example/x.tgz?v=1");
    const text =
      "source: https://s3.example/p.tgz?X-Amz-Credential=AKIA1&X-Amz-Signature=SIG1 answered HTTP 403 " +
      "(redirected from http://h.example/latest?token=T1), see HTTPS://h.example/a?api_key=K1.";
    const shown = redactUrlsIn(text);
    expect(shown).not.toMatch(/AKIA1|SIG1|T1|K1/);
    expect(shown).toBe(
      "source: https://s3.example/p.tgz?X-Amz-Credential=***&X-Amz-Signature=*** answered HTTP 403 " +
        "(redirected from http://h.example/latest?token=***), see https://h.example/a?api_key=***.",
    );
    // Azure's SAS signature and a plain `auth=` too, parsed or not
    expect(redactUrl("https://a.blob.example/c/p.tgz?sv=2020-08-04&sig=AZSIG&auth=A1")).toBe(
      "https://a.blob.example/c/p.tgz?sv=2020-08-04&sig=***&auth=***",
    );
    expect(redactUrl("not a url ?sig=AZSIG&design=x")).toBe("not a url ?sig=***&design=x");
    // the short names of a password too, but not names that merely contain them
    expect(redactUrl("https://h.example/i.json?pw=P1&PWD=P2&pwned=1")).toBe(
      "https://h.example/i.json?pw=***&PWD=***&pwned=1",
    );
    expect(redactUrl("not a url ?pw=P1&pwd=P2&pwned=1")).toBe("not a url ?pw=***&pwd=***&pwned=1");
    // a fragment is never sent, but may hold a secret (OAuth's #access_token=…)
    expect(redactUrl("https://h.example/p.tgz#access_token=FRAG1&state=s")).toBe(
      "https://h.example/p.tgz#access_token=***&state=s",
    );
    expect(redactUrl("https://h.example/p.tgz#v1.0.0")).toBe("https://h.example/p.tgz#v1.0.0");
    expect(redactUrl("not a url #token=FRAG2")).toBe("not a url #token=***");
    // text without a URL, or with harmless ones, is returned as it was
    expect(redactUrlsIn("no url here: token=abc")).toBe("no url here: token=abc");
    expect(redactUrlsIn("see https://h.example/docs#x")).toBe("see https://h.example/docs#x");
  });

  it("hide a password that keeps the URL from parsing (a `/` in it), in a URL and in free text", () => {
    expect(redactUrl("postgresql://postgres:top/secret@127.0.0.1:5432/x")).toBe(
      "postgresql://postgres:***@127.0.0.1:5432/x",
    );
    expect(redactUrl("https://bob:a/b/c@h.example/i.json")).toBe("https://bob:***@h.example/i.json");
    expect(redactUrlsIn('DATABASE_URL "postgresql://u:p/w@db:5432/x" is not a valid URL')).toBe(
      'DATABASE_URL "postgresql://u:***@db:5432/x" is not a valid URL',
    );
    // what does parse keeps its exact shape
    expect(redactUrl("postgresql://u:p%2Fw@db:5432/x")).toBe("postgresql://u:***@db:5432/x");
  });
});
