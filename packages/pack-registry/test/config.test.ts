import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "@jest/globals";
import { tmpDir } from "@attune/test-utils";
import {
  parseConfig,
  readConfigFile,
  registriesFromEnv,
  updateConfigFile,
  writeConfigFile,
} from "../src/config/config-file";
import type { RegistryConfig } from "../src/config/types";

async function rejection(
  p: Promise<unknown> | (() => unknown),
): Promise<{ code?: string; details?: Record<string, unknown>; message: string }> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    return e as { code: string; message: string };
  }
  throw new Error("expected a rejection");
}

describe("config.yaml", () => {
  const homes: Array<{ cleanup(): void }> = [];
  const home = () => {
    const t = tmpDir("attune-cfg-");
    homes.push(t);
    return t.dir;
  };
  afterEach(() => homes.splice(0).forEach((h) => h.cleanup()));

  const reg = (name: string, priority = 10): RegistryConfig => ({
    name,
    url: `https://${name}.example/index.json`,
    priority,
    enabled: true,
  });
  const add = (h: string, r: RegistryConfig) =>
    updateConfigFile(h, (cfg) => ({ registries: [...(cfg.registries ?? []), r], result: r }));

  it("updateConfigFile: concurrent edits take turns, none is lost", async () => {
    const h = home();
    await Promise.all(["a", "b", "c", "d", "e", "f"].map((n, i) => add(h, reg(n, i))));
    const names = (await readConfigFile(h)).registries?.map((r) => r.name).sort();
    expect(names).toEqual(["a", "b", "c", "d", "e", "f"]);
    expect(fs.readdirSync(h)).toEqual(["config.yaml"]); // no lock or temp file left
  });

  it("updateConfigFile: keeps comments, other keys and big integers as written; edits a link's target", async () => {
    const h = home();
    const file = path.join(h, "config.yaml");
    fs.writeFileSync(
      file,
      "# my settings\nbig: 12345678901234567890 # beyond 2^53\nallow_http: false\nregistries:\n  # the main one\n  - name: main\n    url: https://main.example/index.json\n    priority: 1\n",
    );
    await add(h, reg("second", 20));
    await updateConfigFile(h, (cfg) => ({
      registries: (cfg.registries ?? []).filter((r) => r.name !== "second"),
      result: null,
    }));
    await add(h, reg("third", 30));
    const text = fs.readFileSync(file, "utf8");
    expect(text).toContain("# my settings\nbig: 12345678901234567890 # beyond 2^53\nallow_http: false\n");
    expect(text).toContain("  # the main one\n  - name: main\n");
    expect(text).not.toContain("second");
    expect((await readConfigFile(h)).registries?.map((r) => r.name)).toEqual(["main", "third"]);
    // a config.yaml kept elsewhere and linked in: the target is edited, the link stays a link
    const elsewhere = path.join(home(), "attune.yaml");
    fs.renameSync(file, elsewhere);
    fs.symlinkSync(elsewhere, file);
    await add(h, reg("fourth", 40));
    expect(fs.lstatSync(file).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(elsewhere, "utf8")).toContain("name: fourth");
    // a file written on Windows keeps its CRLF line endings and its byte-order mark
    const windows = home();
    const windowsFile = path.join(windows, "config.yaml");
    fs.writeFileSync(windowsFile, "\ufeff# by notepad\r\nallow_http: false\r\n");
    await add(windows, reg("w", 5));
    const written = fs.readFileSync(windowsFile, "utf8");
    expect(written.startsWith("\ufeff# by notepad\r\nallow_http: false\r\nregistries:\r\n")).toBe(true);
    expect(written.replace(/\r\n/g, "")).not.toContain("\n");
    expect((await readConfigFile(windows)).registries?.map((r) => r.name)).toEqual(["w"]);
    // removing an entry whose anchor an alias elsewhere refers to: ECONFIG, the file left as it was
    const anchored = home();
    const anchoredFile = path.join(anchored, "config.yaml");
    const anchoredText =
      "registries:\n  - &first\n    name: a\n    url: https://a.example/index.json\n    priority: 5\nextra: *first\n";
    fs.writeFileSync(anchoredFile, anchoredText);
    await expect(
      updateConfigFile(anchored, (cfg) => ({
        registries: (cfg.registries ?? []).filter((r) => r.name !== "a"),
        result: null,
      })),
    ).rejects.toMatchObject({
      code: "ECONFIG",
      message: expect.stringContaining("would leave the file invalid"),
    });
    expect(fs.readFileSync(anchoredFile, "utf8")).toBe(anchoredText);
    // a result that would not read back is refused, and the file is left as it was
    const before = fs.readFileSync(elsewhere, "utf8");
    await expect(add(h, { ...reg("fifth"), name: "bad name" })).rejects.toMatchObject({ code: "ECONFIG" });
    expect(fs.readFileSync(elsewhere, "utf8")).toBe(before);
  });

  it("names a repeated registry name, and a removal of that name mends the file (every entry of it)", async () => {
    const h = home();
    const file = path.join(h, "config.yaml");
    const text =
      "# mine\nregistries:\n  - name: main\n    url: https://a.example/index.json\n  - name: other # keep\n    url: https://o.example/index.json\n  - name: main\n    url: https://b.example/index.json\n  - name: main\n    url: https://c.example/index.json\n";
    fs.writeFileSync(file, text);
    const e = (await rejection(readConfigFile(h))) as {
      code?: string;
      message: string;
      hint?: string;
      details?: Record<string, unknown>;
    };
    expect(e).toMatchObject({
      code: "ECONFIG",
      message: `${file}: registries[2].name: registry name "main" is used twice (registries[0] and registries[2]); registry names must be unique`,
      hint: `rename one of the registries named "main" in ${file}, or remove them all with \`attune registry remove main\``,
      details: { field: "registries[2].name", name: "main" },
    });
    // the same from a config object
    expect(() => parseConfig({ registries: [reg("x"), reg("y"), reg("x")] })).toThrow(
      'config.yaml: registries[2].name: registry name "x" is used twice (registries[0] and registries[2]); registry names must be unique',
    );
    // only a reader that mends the file may take it as it is
    expect((await readConfigFile(h, { allowDuplicateNames: true })).registries?.map((r) => r.name)).toEqual([
      "main",
      "other",
      "main",
      "main",
    ]);
    // an add keeps the file as it was (its result would still repeat the name)
    await expect(add(h, reg("new"))).rejects.toMatchObject({
      code: "ECONFIG",
      details: { field: "registries[2].name" },
    });
    expect(fs.readFileSync(file, "utf8")).toBe(text);
    // `registry remove main` (the CLI removes the first entry of the name): every "main" goes
    const removed = await updateConfigFile(h, (cfg) => {
      const list = cfg.registries ?? [];
      const gone = list.find((r) => r.name === "main")!;
      return { registries: list.filter((r) => r !== gone), result: gone };
    });
    expect(removed).toMatchObject({ name: "main", url: "https://a.example/index.json" });
    expect((await readConfigFile(h)).registries?.map((r) => r.name)).toEqual(["other"]);
    expect(fs.readFileSync(file, "utf8")).toBe(
      "# mine\nregistries:\n  - name: other # keep\n    url: https://o.example/index.json\n",
    );
  });

  it("a top-level key a letter or two from a known one is ECONFIG naming it and the key meant; other unknown keys are kept", async () => {
    const h = home();
    const file = path.join(h, "config.yaml");
    for (const [typo, meant] of [
      ["registeries", "registries"],
      ["max_file_byte", "max_file_bytes"],
      ["allow-http", "allow_http"],
      ["Token", "token"],
      ["databse_url", "database_url"],
      ["registry", "registries"],
      ["allowed_private_host", "allowed_private_hosts"],
    ]) {
      fs.writeFileSync(file, `${typo}: 1\n`);
      expect(await rejection(readConfigFile(h))).toMatchObject({
        code: "ECONFIG",
        message: `${file}: ${typo}: is not a known key; did you mean ${meant}?`,
        details: { field: typo },
        hint: expect.stringContaining(`rename ${typo} to ${meant} in ${file}`),
      });
    }
    fs.writeFileSync(file, "other_tool: {keep: me}\nmax_file_bytes: 5\n");
    expect(await readConfigFile(h)).toEqual({ other_tool: { keep: "me" }, max_file_bytes: 5 });
  });

  it("reports every bad key at once, in the order the file holds them, each with its own hint", async () => {
    const h = home();
    const file = path.join(h, "config.yaml");
    fs.writeFileSync(
      file,
      [
        "max_file_byte: 5",
        "allow_http: yes",
        "registries:",
        "  - {name: a, url: https://a.example/i.json}",
        "  - {name: a, url: https://b.example/i.json, headers: {'bad name': x}}",
        "max_pack_bytes: -5",
        "allowed_private_hosts: ['10.0.0.0/8']",
        "",
      ].join("\n"),
    );
    const err = (await rejection(readConfigFile(h))) as {
      code?: string;
      message: string;
      hint?: string;
      details?: { field?: string; problems?: Array<{ field: string; message: string; hint: string }> };
    };
    expect(err.code).toBe("ECONFIG");
    const problems = err.details?.problems ?? [];
    expect(problems.map((p) => p.field)).toEqual([
      "max_file_byte",
      "allow_http",
      "registries[1].name",
      "registries[1].headers.bad name",
      "max_pack_bytes",
      "allowed_private_hosts[0]",
    ]);
    expect(err.details?.field).toBe("max_file_byte");
    expect(problems[0]).toEqual({
      field: "max_file_byte",
      message: `${file}: max_file_byte: is not a known key; did you mean max_file_bytes?`,
      hint: expect.stringContaining("rename max_file_byte to max_file_bytes"),
    });
    expect(problems[1].message).toBe(`${file}: allow_http: must be true or false, got "yes"`);
    expect(problems[2].message).toContain('registry name "a" is used twice');
    expect(problems[4].message).toBe(
      `${file}: max_pack_bytes: must be a positive whole number of bytes, got -5`,
    );
    // one message naming them all, one hint per problem
    for (const p of problems) {
      expect(err.message).toContain(p.message);
      expect(err.hint).toContain(p.hint);
    }
    // the header's value is never quoted
    expect(err.message).not.toMatch(/: x\b/);
    // a single bad key keeps the one-problem form (no list)
    fs.writeFileSync(file, "allow_http: yes\n");
    const one = await rejection(readConfigFile(h));
    expect(one.message).toBe(`${file}: allow_http: must be true or false, got "yes"`);
    expect(one.details).toMatchObject({ field: "allow_http" });
    expect(one.details?.problems).toBeUndefined();
  });

  it("a YAML problem names its kind, line, column and key but never quotes the file's text (tokens, headers)", async () => {
    const h = home();
    const file = path.join(h, "config.yaml");
    const reg = "registries:\n  - name: a\n    url: https://a.example/i.json\n    headers:\n";
    const cases: Array<[string, string]> = [
      [
        "token: att_SEKRIT1\ntoken: att_SEKRIT2\n",
        "a key is given twice at line 2, column 1 (the line of the key token)",
      ],
      [`${reg}\tAuthorization: Bearer SEKRIT3\n`, "at line 5, column 1 (the line of the key Authorization)"],
      ["token: att_SEKRIT4: y\n", "at line 1, column 8 (the line of the key token)"],
      // a value read as a tag, an alias, a named tag: the parser's own words quote it
      [
        `${reg}      X-Api-Key: !Pa55SEKRIT5\n`,
        "a value starts with ! (read as a YAML tag): quote the value at line 5, column 18 (the line of the key X-Api-Key)",
      ],
      [
        `${reg}      X-Api-Key: *SEKRIT6\n`,
        "an alias (*name) refers to no anchor set before it: quote a value that starts with *",
      ],
      [
        "token: !e!SEKRIT7 x\n",
        "a value starts with ! (read as a YAML tag): quote the value at line 1, column 8 (the line of the key token)",
      ],
      ["? [SEKRIT8]\n: x\n", "a key is a list or mapping (keys are plain words)"],
      [
        `${reg}      Authorization: "Bearer SEKRIT9\nallow_http: true\n`,
        "a closing quote or bracket is missing, at the end of the file",
      ],
      [
        "token: SEKRIT10\n---\ntoken: x\n",
        "more than one YAML document (a --- line): config.yaml holds one mapping",
      ],
      [
        `foo: ${"[".repeat(20000)}SEKRIT11${"]".repeat(20000)}\n`,
        "lists or mappings are nested too deeply at line 1",
      ],
    ];
    const warnings: unknown[] = [];
    const onWarning = (w: unknown) => warnings.push(w);
    process.on("warning", onWarning);
    try {
      for (const [text, problem] of cases) {
        fs.writeFileSync(file, text);
        const err = await rejection(readConfigFile(h));
        expect(err.code).toBe("ECONFIG");
        expect(err.message.startsWith(`${file}: not valid YAML: `)).toBe(true);
        expect(err.message).toContain(problem);
        const all = err as unknown as { hint?: string; cause?: unknown };
        expect(
          JSON.stringify({ ...err, message: err.message, hint: all.hint, cause: String(all.cause) }),
        ).not.toMatch(/SEKRIT/);
      }
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off("warning", onWarning);
    }
    // nothing reaches stderr through process warnings either (they quote the line)
    expect(warnings).toEqual([]);
  });

  it("reads a missing file as an empty config", async () => {
    expect(await readConfigFile(home())).toEqual({});
  });

  it("round-trips atomically with mode 0600, keeping unknown keys and applying defaults", async () => {
    const h = home();
    await writeConfigFile(h, {
      registries: [
        {
          name: "main",
          url: "https://r.example/index.json",
          priority: 1,
          enabled: true,
          headers: { authorization: "Bearer t" },
        },
      ],
      allow_http: false,
      other_tool: { keep: "me" },
    });
    const file = path.join(h, "config.yaml");
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(h)).toEqual(["config.yaml"]);
    const cfg = await readConfigFile(h);
    expect(cfg.registries?.[0]).toMatchObject({
      name: "main",
      priority: 1,
      headers: { authorization: "Bearer t" },
    });
    expect(cfg.other_tool).toEqual({ keep: "me" });
    fs.writeFileSync(file, "registries:\n  - name: r2\n    url: ./index.json\n");
    expect((await readConfigFile(h)).registries?.[0]).toEqual({
      name: "r2",
      url: "./index.json",
      priority: 100,
      enabled: true,
    });
  });

  it("a config.yaml that is a directory, a FIFO, a loop or a link to nothing is ECONFIG naming it (not EIO, a hang, or silently no config)", async () => {
    const a = home();
    fs.mkdirSync(path.join(a, "config.yaml"));
    expect(await rejection(readConfigFile(a))).toMatchObject({
      code: "ECONFIG",
      message: `${path.join(a, "config.yaml")} is a directory, not a file`,
      hint: expect.stringMatching(/^move .* away: config\.yaml must be a file/),
    });
    const b = home();
    fs.symlinkSync(path.join(b, "gone.yaml"), path.join(b, "config.yaml"));
    expect(await rejection(readConfigFile(b))).toMatchObject({
      code: "ECONFIG",
      message: `${path.join(b, "config.yaml")} is a symbolic link to ${path.join(b, "gone.yaml")}, which does not exist`,
    });
    // a FIFO never hangs the read; a loop of links is named as such
    const c = home();
    execFileSync("mkfifo", [path.join(c, "config.yaml")]);
    expect(await rejection(readConfigFile(c))).toMatchObject({
      code: "ECONFIG",
      message: `${path.join(c, "config.yaml")} is a FIFO, socket or device, not a file`,
    });
    const d = home();
    fs.symlinkSync(path.join(d, "config.yaml"), path.join(d, "config.yaml"));
    expect(await rejection(readConfigFile(d))).toMatchObject({
      code: "ECONFIG",
      message: `${path.join(d, "config.yaml")} is a loop of symbolic links, not a file`,
      hint: expect.stringMatching(/^move .* away/),
    });
    expect(await readConfigFile(home())).toEqual({}); // no file at all: the defaults
  });

  it("a value of the wrong type is said in a YAML author's words, naming the key", async () => {
    const h = home();
    for (const [text, message] of [
      [
        "registries:\n  - name: a\n    url: x\n    enabled: 'yes'\n",
        "registries[0].enabled: must be true or false, not a string",
      ],
      [
        "registries:\n  - name: a\n    url: x\n    headers: 5\n",
        "registries[0].headers: must be a mapping of names to values, not a number",
      ],
      ["registries:\n  - 5\n", "registries[0]: must be a mapping (key: value), not a number"],
    ]) {
      fs.writeFileSync(path.join(h, "config.yaml"), text);
      const e = await rejection(readConfigFile(h));
      expect(e.code).toBe("ECONFIG");
      expect(e.message).toBe(`${path.join(h, "config.yaml")}: ${message}`);
    }
  });

  it.each([
    [
      "registries:\n  - name: a\n    url: x\n  - name: b\n    url: y\n    priority: high\n",
      "registries[1].priority",
    ],
    ["registries:\n  - name: ../evil\n    url: x\n", "registries[0].name"],
    // the repeated entry's name
    ["registries:\n  - name: a\n    url: x\n  - name: a\n    url: y\n", "registries[1].name"],
    ["registries:\n  - name: a\n    url: x\n    token: t\n", "registries[0].token"],
    ["allow_http: 'yes'\n", "allow_http"],
    ["allowed_private_hosts: 127.0.0.1\n", "allowed_private_hosts"],
    ["index_cache_ttl_seconds: -1\n", "index_cache_ttl_seconds"],
  ])("rejects an invalid file naming the key (%#)", async (text, key) => {
    const h = home();
    fs.writeFileSync(path.join(h, "config.yaml"), text);
    const e = await rejection(readConfigFile(h));
    expect(e.code).toBe("ECONFIG");
    expect(e.details?.field).toBe(key);
    expect(e.message).toContain(key);
  });

  it.each([
    [
      "max_file_bytes: -5\n",
      "max_file_bytes",
      "must be a positive whole number of bytes, got -5",
      "e.g. max_file_bytes: 536870912 (the default is 268435456; remove the key for it)",
    ],
    [
      "max_pack_files: 0\n",
      "max_pack_files",
      "must be a positive whole number of files, got 0",
      "e.g. max_pack_files: 100000 (the default is 50000; remove the key for it)",
    ],
    [
      "max_pack_bytes: lots\n",
      "max_pack_bytes",
      'must be a positive whole number of bytes, got "lots"',
      "e.g. max_pack_bytes: 2147483648 (the default is 1073741824; remove the key for it)",
    ],
    [
      "max_download_bytes: 1.5\n",
      "max_download_bytes",
      "must be a positive whole number of bytes, got 1.5",
      "e.g. max_download_bytes: 1073741824 (the default is 536870912; remove the key for it)",
    ],
    // a list is not its only item (String([2]) is "2"), nor is a mapping or a boolean a number
    [
      "max_pack_files: [2]\n",
      "max_pack_files",
      "must be a positive whole number of files, got a list",
      "e.g. max_pack_files: 100000 (the default is 50000; remove the key for it)",
    ],
    [
      "max_download_bytes: {n: 9}\n",
      "max_download_bytes",
      "must be a positive whole number of bytes, got a mapping",
      "e.g. max_download_bytes: 1073741824 (the default is 536870912; remove the key for it)",
    ],
    // YAML's infinity is not shown as JSON's null
    [
      "max_pack_bytes: .inf\n",
      "max_pack_bytes",
      "must be a positive whole number of bytes, got .inf",
      "e.g. max_pack_bytes: 2147483648 (the default is 1073741824; remove the key for it)",
    ],
    [
      "max_file_bytes: true\n",
      "max_file_bytes",
      "must be a positive whole number of bytes, got true",
      "e.g. max_file_bytes: 536870912 (the default is 268435456; remove the key for it)",
    ],
    [
      "allow_http: yes\n",
      "allow_http",
      'must be true or false, got "yes"',
      "e.g. allow_http: true (or false; YAML's yes/no and quoted words are not booleans here)",
    ],
    [
      "allow_http:\n",
      "allow_http",
      "must be true or false, got an empty value",
      "e.g. allow_http: true (or false; YAML's yes/no and quoted words are not booleans here)",
    ],
    [
      "index_cache_ttl_seconds: -1\n",
      "index_cache_ttl_seconds",
      "must be a whole number of seconds, 0 or more, got -1",
      "e.g. index_cache_ttl_seconds: 600",
    ],
    [
      "allowed_private_hosts: [localhost, 5]\n",
      "allowed_private_hosts[1]",
      "must be a host name or IP address, got 5",
      "e.g. allowed_private_hosts: [registry.internal, 10.0.0.5]",
    ],
    [
      "allowed_private_hosts: [10.0.0.0/8]\n",
      "allowed_private_hosts[0]",
      '"10.0.0.0/8" is an address range (CIDR ranges are not supported)',
      "list host names or IP addresses alone, without scheme, port or /prefix (e.g. 127.0.0.1, ::1, registry.internal); each address of a range must be listed",
    ],
    [
      "registries: 5\n",
      "registries",
      "must be a list of registries, got 5",
      "e.g. registries: [{name: main, url: https://registry.example.com/index.json, priority: 10}], or add one with `attune registry add <name> <url>`",
    ],
    [
      "registries:\n  - name: a\n    url: x\n    token: t\n",
      "registries[0].token",
      "is not a known field; remove it or check its spelling",
      "a registry takes name, url, priority, enabled and headers",
    ],
  ])(
    "an invalid value (%#) is named with the file's path and the key, with a hint to mend it there",
    async (text, key, message, fix) => {
      const h = home();
      const file = path.join(h, "config.yaml");
      fs.writeFileSync(file, text);
      const e = (await rejection(readConfigFile(h))) as { code?: string; message: string; hint?: string };
      expect({ code: e.code, message: e.message, hint: e.hint }).toEqual({
        code: "ECONFIG",
        message: `${file}: ${key}: ${message}`,
        hint: `fix ${key} in ${file}: ${fix}`,
      });
    },
  );

  it("takes a size cap as a positive whole number, also written as a digit string", async () => {
    const h = home();
    fs.writeFileSync(
      path.join(h, "config.yaml"),
      "max_file_bytes: 1000\nmax_pack_bytes: '5000'\nmax_pack_files:\n",
    );
    expect(await readConfigFile(h)).toEqual({
      max_file_bytes: 1000,
      max_pack_bytes: "5000",
      max_pack_files: null,
    });
  });

  it("says a missing key is required, not that it 'received undefined'", async () => {
    const h = home();
    fs.writeFileSync(path.join(h, "config.yaml"), "registries:\n  - name: a\n");
    const e = await rejection(readConfigFile(h));
    expect(e.message).toBe(`${path.join(h, "config.yaml")}: registries[0].url: is required (a string)`);
  });

  it("takes a registry priority in the range registry add --priority does, and says so", async () => {
    for (const bad of ["1.5", "-1", "1000000000", '"ten"']) {
      const h = home();
      fs.writeFileSync(
        path.join(h, "config.yaml"),
        `registries:\n  - name: a\n    url: https://a.example.com/i.json\n    priority: ${bad}\n`,
      );
      const e = await rejection(readConfigFile(h));
      expect({ bad, code: e.code, message: e.message }).toEqual({
        bad,
        code: "ECONFIG",
        message: `${path.join(h, "config.yaml")}: registries[0].priority: must be a whole number from 0 to 999999999 (lower is searched first)`,
      });
    }
  });

  it("rejects YAML that does not parse or is not a mapping", async () => {
    const h = home();
    fs.writeFileSync(path.join(h, "config.yaml"), "registries: [\n");
    expect((await rejection(readConfigFile(h))).code).toBe("ECONFIG");
    fs.writeFileSync(path.join(h, "config.yaml"), "- a\n- b\n");
    expect((await rejection(readConfigFile(h))).code).toBe("ECONFIG");
  });

  it("refuses to write an invalid config and leaves the old file intact", async () => {
    const h = home();
    await writeConfigFile(h, { allow_http: true });
    const e = await rejection(
      writeConfigFile(h, { registries: [{ name: "", url: "x", priority: 1, enabled: true }] }),
    );
    expect(e.code).toBe("ECONFIG");
    expect(await readConfigFile(h)).toEqual({ allow_http: true });
  });
});

describe("config.yaml registry headers", () => {
  it.each([
    ["Bad Header", "x", "registries[0].headers.Bad Header", /not a valid header name/],
    ["X-Colon:", "x", "registries[0].headers.X-Colon:", /not a valid header name/],
    ["X-Bad", "a\r\nInjected: b", "registries[0].headers.X-Bad", /line break/],
    ["X-Nul", "a\u0000b", "registries[0].headers.X-Nul", /control character/],
  ])(
    "refuses header %j at load (ECONFIG naming it), never echoing the value",
    async (name, value, field, msg) => {
      const e = (await rejection(() =>
        parseConfig({
          registries: [{ name: "h", url: "https://r.example/i.json", headers: { [name]: value } }],
        }),
      )) as { code?: string; message: string; hint?: string; details?: Record<string, unknown> };
      expect(e.code).toBe("ECONFIG");
      expect(e.details).toMatchObject({ field });
      expect(e.message).toMatch(msg);
      expect(e.message.startsWith(`config.yaml: ${field}: `)).toBe(true);
      expect(e.message).not.toContain(value);
      expect(e.hint).toBe(`fix ${field} in config.yaml: e.g. headers: {Authorization: "Bearer <token>"}`);
    },
  );
  it("accepts ordinary headers, a tab and Latin-1 in values", () => {
    expect(
      parseConfig({
        registries: [
          {
            name: "h",
            url: "https://r.example/i.json",
            headers: { Authorization: "Bearer a.b\tc", "X-Latin": "café" },
          },
        ],
      }),
    ).toBeTruthy();
  });
});

describe("ATTUNE_REGISTRIES", () => {
  it("is undefined when unset or empty", () => {
    expect(registriesFromEnv({})).toBeUndefined();
    expect(registriesFromEnv({ ATTUNE_REGISTRIES: " " })).toBeUndefined();
  });
  it("gives priorities in the order listed; URLs may hold '='", () => {
    expect(
      registriesFromEnv({ ATTUNE_REGISTRIES: "main=https://r.example/i.json?a=b,local=/srv/index.json" }),
    ).toEqual([
      { name: "main", url: "https://r.example/i.json?a=b", priority: 1, enabled: true },
      { name: "local", url: "/srv/index.json", priority: 2, enabled: true },
    ]);
  });
  it("refuses credentials in a registry URL without echoing them (env and config.yaml)", async () => {
    const e = await rejection(() =>
      registriesFromEnv({ ATTUNE_REGISTRIES: "a=https://u:hunter2@r.example/i.json" }),
    );
    expect(e).toMatchObject({ code: "ECONFIG", details: { field: "ATTUNE_REGISTRIES" } });
    expect(e.message).toMatch(/must not contain a user name or password/);
    expect(e.message).not.toContain("hunter2");
    const h = fs.mkdtempSync(path.join(os.tmpdir(), "attune-cfg-cred-"));
    fs.writeFileSync(
      path.join(h, "config.yaml"),
      "registries:\n  - name: a\n    url: https://u:hunter2@r.example/i.json\n",
    );
    const c = await rejection(readConfigFile(h));
    expect(c).toMatchObject({ code: "ECONFIG", details: { field: "registries[0].url" } });
    expect(c.message).not.toContain("hunter2");
    // a plain path is still fine
    fs.writeFileSync(path.join(h, "config.yaml"), "allowed_private_hosts: [127.0.0.1]\n");
    expect(await readConfigFile(h)).toMatchObject({ allowed_private_hosts: ["127.0.0.1"] });
    fs.rmSync(h, { recursive: true, force: true });
  });
  it("refuses port 0 in a registry URL where it is given (env and config.yaml), not at the first search", async () => {
    for (const url of [
      "http://127.0.0.1:0/x.json",
      "https://example.com:000/x.json",
      "https://[::1]:0/x.json",
    ]) {
      const e = await rejection(() => registriesFromEnv({ ATTUNE_REGISTRIES: `a=${url}` }));
      expect(e).toMatchObject({ code: "ECONFIG", details: { field: "ATTUNE_REGISTRIES" } });
      expect(e.message).toMatch(/has port 0, which is not a port/);
    }
    const h = fs.mkdtempSync(path.join(os.tmpdir(), "attune-cfg-port-"));
    fs.writeFileSync(
      path.join(h, "config.yaml"),
      "registries:\n  - name: a\n    url: http://127.0.0.1:0/x.json\n",
    );
    expect(await rejection(readConfigFile(h))).toMatchObject({
      code: "ECONFIG",
      details: { field: "registries[0].url" },
      message: expect.stringContaining("has port 0"),
    });
    fs.rmSync(h, { recursive: true, force: true });
  });
  it("hints at the real fix: an absolute URL or path, the comma inside a URL, a repeated name", async () => {
    const rel = (await rejection(() => registriesFromEnv({ ATTUNE_REGISTRIES: "a=relative.json" }))) as {
      message: string;
      hint?: string;
    };
    expect(rel.message).toMatch(/registry "a" is neither an http\(s\) URL/);
    expect(rel.hint).toBe(
      "give the index as an https:// URL, a file:/// URL or an absolute path (a relative path is not accepted here)",
    );
    const comma = (await rejection(() =>
      registriesFromEnv({ ATTUNE_REGISTRIES: "a=https://h/i.json?x=1,y=2" }),
    )) as { hint?: string };
    expect(comma.hint).toMatch(/write a comma inside a URL as %2C/);
    const twice = (await rejection(() =>
      registriesFromEnv({ ATTUNE_REGISTRIES: "a=https://h/1.json,a=https://h/2.json" }),
    )) as { message: string; hint?: string };
    expect(twice.message).toMatch(/registry "a" is listed twice/);
    expect(twice.hint).toMatch(/its own name/);
  });
  it.each([
    [
      "main https://registry.example.com/index.json?token=TOPSECRET123",
      'item 1 has a registry name that is not [A-Za-z0-9][A-Za-z0-9_.-]* (at most 64) before its first "="',
      "use ATTUNE_REGISTRIES=name=https://host/index.json,name2=...",
    ],
    [
      "https://bob:HUNTER2@host/index.json",
      'item 1 has no "name=" before its URL',
      "use ATTUNE_REGISTRIES=name=https://host/index.json,name2=..., with no user name or password in the URL: set the registry's headers in config.yaml instead",
    ],
    [
      "main=https://h/i.json?token=AB,CDSECRET",
      'item 2 has no "="',
      "commas separate registries: write a comma inside a URL as %2C",
    ],
    [
      "a=https://h.example/i.json?tags=a,b",
      'item 2 has no "="',
      "commas separate registries: write a comma inside a URL as %2C",
    ],
    [
      "a=https://h.example/i.json?tags=a,=SECRETTAIL",
      'item 2 has no registry name before its "="',
      "commas separate registries: write a comma inside a URL as %2C",
    ],
    [
      "a=https://h.example/i.json,justaword",
      'item 2 has no "="',
      "use ATTUNE_REGISTRIES=name=https://host/index.json,name2=...",
    ],
    ["b=", 'item 1 has no URL after its "="', "use ATTUNE_REGISTRIES=name=https://host/index.json,name2=..."],
  ])("never echoes a malformed item (%j): names its number and what is wrong", async (v, what, hint) => {
    const e = (await rejection(() => registriesFromEnv({ ATTUNE_REGISTRIES: v }))) as {
      code?: string;
      message: string;
      hint?: string;
      details?: Record<string, unknown>;
    };
    expect(e.code).toBe("ECONFIG");
    expect(e.message).toBe(`ATTUNE_REGISTRIES: ${what}; each comma-separated item must be name=url`);
    expect(e.hint).toBe(hint);
    expect(e.details).toEqual({ field: "ATTUNE_REGISTRIES", item: Number(/item (\d+)/.exec(what)![1]) });
    expect(JSON.stringify([e.message, e.hint, e.details])).not.toMatch(
      /TOPSECRET|HUNTER2|CDSECRET|SECRETTAIL|bob|registry\.example|justaword|tags=/,
    );
  });
  it.each(["justaurl", "=https://x", "a=", "a=x,a=y", "bad name=x", "a=https://h/i.json?x=1,y=2"])(
    "rejects %j as ECONFIG",
    async (v) => {
      const e = await rejection(() => registriesFromEnv({ ATTUNE_REGISTRIES: v }));
      expect(e.code).toBe("ECONFIG");
      expect(e.details?.field).toBe("ATTUNE_REGISTRIES");
    },
  );
});
