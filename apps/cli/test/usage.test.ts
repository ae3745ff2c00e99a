import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "@jest/globals";
import { COMMAND_TREE } from "../src/main";
import { CLI_DIR, baseEnv, runCli } from "./helpers";

/** Run the CLI on `args`, which must be a usage error (exit 2, nothing on stdout): its stderr. */
async function usageErrorOf(args: readonly string[]): Promise<string> {
  const r = await runCli([...args]);
  expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code: 2, stdout: "" });
  return r.stderr;
}

describe("usage errors, help and version", () => {
  it("an unknown command exits 2 and suggests the closest one", async () => {
    const r = await runCli(["pakc", "list"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe('attune: EUSAGE: unknown command "pakc"\nhint: did you mean `pack`?\n');
    const sub = await runCli(["pack", "lsit"]);
    expect(sub.code).toBe(2);
    expect(sub.stderr).toContain('unknown command "lsit"');
    expect(sub.stderr).toContain("did you mean `list`?");
  });

  it("an unknown command with --help, or a subcommand no close to any, is refused like one without", async () => {
    for (const [args, message, hint] of [
      [["nonsense", "--help"], 'unknown command "nonsense"', "run `attune --help` to see the commands"],
      [["-o", "json", "pakc", "--help"], 'unknown command "pakc"', "did you mean `attune pack`?"],
      [
        ["pack", "nonsense", "--help"],
        'unknown command "pack nonsense"',
        "run `attune pack --help` to see the commands",
      ],
      [
        ["pack", "nonsense"],
        'unknown command "pack nonsense"',
        "run `attune pack --help` to see the commands",
      ],
      [["token", "lst", "-h"], 'unknown command "token lst"', "did you mean `attune token list`?"],
      // --help before the unknown subcommand, and global flags between the words
      [
        ["pack", "--help", "nonsense"],
        'unknown command "pack nonsense"',
        "run `attune pack --help` to see the commands",
      ],
      [
        ["registry", "--help", "nonsense"],
        'unknown command "registry nonsense"',
        "run `attune registry --help` to see the commands",
      ],
      [["pack", "-h", "lsit"], 'unknown command "pack lsit"', "did you mean `attune pack list`?"],
      [
        ["pack", "-q", "--help", "nonsense"],
        'unknown command "pack nonsense"',
        "run `attune pack --help` to see the commands",
      ],
      [
        ["pack", "--home", "/nowhere", "nonsense", "--help"],
        'unknown command "pack nonsense"',
        "run `attune pack --help` to see the commands",
      ],
      [
        ["pack", "-q", "nonsense"],
        'unknown command "pack nonsense"',
        "run `attune pack --help` to see the commands",
      ],
      [["nonsense"], 'unknown command "nonsense"', "run `attune --help` to see the commands"],
    ] as const) {
      const stderr = await usageErrorOf(args);
      expect(stderr).toBe(`attune: EUSAGE: ${message}\nhint: ${hint}\n`);
    }
    // the real ones still print their help, wherever --help stands
    const ok = await runCli(["-o", "json", "pack", "install", "--help"]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("attune pack install <source>");
    for (const args of [
      ["pack", "--help", "install"],
      ["pack", "-q", "-h", "install"],
    ]) {
      const help = await runCli(args);
      expect({ args, code: help.code, stderr: help.stderr }).toEqual({ args, code: 0, stderr: "" });
      expect(help.stdout).toContain("attune pack install <source>");
    }
  });

  it("the command tree the help check uses is the one each command's --help lists", async () => {
    const top = await runCli(["--help"]);
    // the "Commands:" section only (the examples below it name commands too)
    const listed = (out: string, prefix: string) =>
      [
        ...(/^Commands:\n([\s\S]*?)\n\n/m.exec(out)?.[1] ?? "").matchAll(
          new RegExp(`^  ${prefix} ([a-z-]+(?: [<[][^ ]+)*)`, "gm"),
        ),
      ].map((m) => m[1]);
    const names = (usages: string[]) => usages.map((u) => u.split(" ")[0]).sort();
    expect(names(listed(top.stdout, "attune"))).toEqual(Object.keys(COMMAND_TREE).sort());
    for (const [command, subs] of Object.entries(COMMAND_TREE)) {
      if (subs.length === 0) continue;
      const r = await runCli([command, "--help"]);
      expect({ command, subs: listed(r.stdout, `attune ${command}`).sort() }).toEqual({
        command,
        subs: [...subs].sort(),
      });
    }
  });

  it("a flag given a value other than true/false is a usage error", async () => {
    const r = await runCli(["pack", "--quiet=maybe", "list"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'attune: EUSAGE: --quiet is a flag and takes no value (got "maybe")\nhint: give --quiet alone (or --quiet=true / --quiet=false)\n',
    );
    const q = await runCli(["pack", "list", "-q=maybe"]);
    expect(q.code).toBe(2);
    expect(q.stderr).toMatch(/^attune: EUSAGE: -q is a flag and takes no value \(got "maybe"\)/);
    // the negated form takes no value at all
    for (const [flag, value] of [
      ["--no-quiet", "maybe"],
      ["--no-debug", "true"],
    ]) {
      const n = await runCli(["pack", "list", `${flag}=${value}`]);
      expect(n.code).toBe(2);
      expect(n.stderr).toBe(
        `attune: EUSAGE: ${flag} is a flag and takes no value (got "${value}")\nhint: give ${flag} alone (or --${flag.slice(5)}=false)\n`,
      );
    }
    const y = await runCli(["pack", "uninstall", "x", "--yes=no"]);
    expect(y.code).toBe(2);
    expect(y.stderr).toMatch(/^attune: EUSAGE: --yes is a flag and takes no value/);
  });

  it("a command group without its subcommand lists the subcommands and the usage", async () => {
    const groups = Object.entries(COMMAND_TREE).filter(([, subs]) => subs.length > 0);
    expect(groups.map(([g]) => g).sort()).toEqual(["config", "db", "pack", "registry", "token"]);
    for (const [group, usages] of groups) {
      const subs = usages.map((u) => u.split(" ")[0]);
      for (const args of [[group], ["-o", "json", group], [group, "-q"]]) {
        const stderr = await usageErrorOf(args);
        const [message, hint] = stderr.split("\n");
        expect(message).toBe(
          `attune: EUSAGE: missing <command>: attune ${group} <command>, one of ${subs.join(", ")}`,
        );
        expect(hint).toMatch(
          new RegExp(`^hint: e\\.g\\. \`attune ${group} [a-z-]+\`; run \`attune ${group} --help\``),
        );
        expect(stderr).not.toMatch(/Not enough|non-option/);
      }
    }
  });

  it("no command at all lists the commands and the usage", async () => {
    for (const args of [[], ["-q"], ["--home", "/nowhere"]]) {
      const stderr = await usageErrorOf(args);
      expect(stderr).toBe(
        `attune: EUSAGE: missing <command>: attune <command>, one of ${Object.keys(COMMAND_TREE).join(", ")}\n` +
          "hint: e.g. `attune pack list`; run `attune --help` to see what each does\n",
      );
    }
  });

  it("an unknown flag before the subcommand is named, not taken for a missing or unknown command", async () => {
    for (const [args, hint] of [
      [["--frce", "pack", "list"], "run `attune pack list --help` to see the options"],
      [["pack", "--frce", "list"], "run `attune pack list --help` to see the options"],
      [["--frce", "pack", "install", "./x"], "did you mean --force? (run with --help to see the options)"],
      [["pack", "--frce", "install", "./x"], "did you mean --force? (run with --help to see the options)"],
      [["--home", "/nowhere", "--frce", "pack", "list"], "run `attune pack list --help` to see the options"],
      [["--frce"], "run `attune --help` to see the options"],
      [["pack", "--qiet", "list"], "did you mean --quiet? (run with --help to see the options)"],
    ] as const) {
      const stderr = await usageErrorOf(args);
      const typed = args.find((a) => a.startsWith("--") && a !== "--home");
      expect(stderr).toBe(`attune: EUSAGE: Unknown argument: ${typed}\nhint: ${hint}\n`);
    }
    const short = await runCli(["-x", "pack", "list"]);
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/^attune: EUSAGE: Unknown argument: -x\n/);
    // `completion bash`: one script for both shells, not "unknown command bash, did you mean pack"
    const shell = await runCli(["completion", "bash"]);
    expect({ code: shell.code, stdout: shell.stdout }).toEqual({ code: 2, stdout: "" });
    expect(shell.stderr).toBe(
      'attune: EUSAGE: `attune completion` takes no argument (got "bash")\nhint: the script works in bash and zsh: attune completion >> ~/.bashrc (or ~/.zshrc)\n',
    );
    // the CLI's --version after `completion`: a usage error, as after any other command (yargs
    // printed the script)
    for (const argv of [
      ["completion", "--version"],
      ["completion", "--version=1"],
    ]) {
      const v = await runCli(argv);
      expect({ argv, code: v.code, stdout: v.stdout }).toEqual({ argv, code: 2, stdout: "" });
      expect(v.stderr).toBe(
        "attune: EUSAGE: Unknown argument: --version\nhint: run `attune --version` alone for the CLI's version, or `attune completion --help` to see the usage\n",
      );
    }
    // a global option without its value before the command: said so, not "unknown command list"
    for (const opt of ["--home", "--database-url", "--packs-dir", "--api-url", "--token"]) {
      const r = await runCli([opt, "pack", "list"]);
      expect({ opt, code: r.code }).toEqual({ opt, code: 2 });
      expect(r.stderr).toBe(
        `attune: EUSAGE: ${opt} needs a value (it would take "pack", the command, as its value)\n` +
          `hint: give ${opt} <value> before the command, e.g. \`attune ${opt} <value> pack list\`, or leave it out\n`,
      );
    }
    // with its value, the same words are fine
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "attune-usage-home-"));
    try {
      expect((await runCli(["--home", home, "pack", "list"], { env: baseEnv() })).code).toBe(0);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
    // `--` is refused as such (yargs dropped the word after it, or named it `----`)
    for (const args of [
      ["--", "pack", "list"],
      ["pack", "list", "--", "--"],
      ["pack", "checksum", "--", "."],
    ]) {
      const r = await runCli(args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toBe(
        "attune: EUSAGE: `--` is not accepted: attune has no arguments that need it\nhint: leave `--` out; give a path that starts with - as ./-name\n",
      );
    }
    // after the command too, named as typed: a single letter, a capital
    for (const [args, typed] of [
      [["pack", "list", "-Z"], "-Z"],
      [["pack", "install", "./x", "-F"], "-F"],
      [["pack", "list", "--Force"], "--Force"],
      [["pack", "checksum", ".", "-O", "json"], "-O"],
    ] as const) {
      const r = await runCli([...args]);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toMatch(new RegExp(`^attune: EUSAGE: Unknown argument: ${typed}\n`));
    }
    // an option of the subcommand given before it is said to belong after it
    for (const args of [
      ["--force", "pack", "install", "./x"],
      ["pack", "--force", "install", "./x"],
    ]) {
      const stderr = await usageErrorOf(args);
      expect(stderr).toBe(
        "attune: EUSAGE: --force is an option of `attune pack install`: give it after the command\n" +
          "hint: e.g. `attune pack install <source> --force`; only the global options (--home, -o, --api-url, …) can come before it\n",
      );
    }
    // the global options before the command still work
    const ok = await runCli([
      "-q",
      "--no-debug",
      "-o",
      "json",
      "pack",
      "checksum",
      "examples/packs/hello-world",
    ]);
    expect(ok.code).toBe(0);
  });

  it("--version after a command group is `pack uninstall`'s option, said to go after the command", async () => {
    const yes = await runCli(["pack", "--yes", "uninstall", "x"]);
    for (const args of [
      ["pack", "--version", "uninstall", "x"],
      ["pack", "--version", "1.0.0", "uninstall", "x"],
      ["pack", "--version=1.0.0", "uninstall", "x"],
      ["-q", "pack", "--version", "uninstall", "x", "--yes"],
    ]) {
      const stderr = await usageErrorOf(args);
      expect(stderr).toBe(
        "attune: EUSAGE: --version is an option of `attune pack uninstall`: give it after the command\n" +
          "hint: e.g. `attune pack uninstall <ref> --version <version>`; only the global options (--home, -o, --api-url, …) can come before it\n",
      );
      expect(stderr.split("\n")[0]).toBe(yes.stderr.split("\n")[0].replace("--yes", "--version"));
    }
    // before the first command word it is still the CLI's own
    const own = await runCli(["--version"]);
    expect(own.code).toBe(0);
  });

  it("the CLI's --version with a command after it, and a lone - as a command, are usage errors", async () => {
    for (const args of [
      ["--version", "pack", "list"],
      ["--version", "pack"],
      ["-q", "--version", "config", "show"],
    ]) {
      const stderr = await usageErrorOf(args);
      expect(stderr).toBe(
        "attune: EUSAGE: --version prints attune's version and takes no command\n" +
          "hint: run `attune --version` alone (the version of an installed pack: `attune pack show <ref>`)\n",
      );
    }
    // before a subcommand with a --version of its own, that one was meant
    const uninstall = await runCli(["--version", "pack", "uninstall", "x"]);
    expect(uninstall.code).toBe(2);
    expect(uninstall.stderr).toMatch(
      /^attune: EUSAGE: --version is an option of `attune pack uninstall`: give it after the command\n/,
    );
    for (const [args, shown, help] of [
      [["-"], "-", "attune --help"],
      [["pack", "-"], "pack -", "attune pack --help"],
      [["pack", "-", "list"], "pack -", "attune pack --help"],
    ] as const) {
      const stderr = await usageErrorOf(args);
      expect(stderr).toBe(
        `attune: EUSAGE: unknown command "${shown}"\nhint: run \`${help}\` to see the commands\n`,
      );
    }
  });

  it("every option of the subcommand before it is refused, whether or not yargs would read it", async () => {
    for (const [args, typed, command, usage] of [
      // yargs would run this one (the value sits before the subcommand)...
      [["pack", "--ref", "v1", "install", "./x"], "--ref", "pack install", "<source> --ref <ref>"],
      [["pack", "--ref=v1", "install", "./x"], "--ref", "pack install", "<source> --ref <ref>"],
      [["--ref", "v1", "pack", "install", "./x"], "--ref", "pack install", "<source> --ref <ref>"],
      // ...and refuse this one as a missing command
      [["pack", "--json", "checksum", "."], "--json", "pack checksum", "<path> --json"],
      [["--json", "pack", "checksum", "."], "--json", "pack checksum", "<path> --json"],
      [
        ["pack", "--skip-deps", "uninstall", "x", "--yes"],
        "--skip-deps",
        "pack uninstall",
        "<ref> --skip-deps",
      ],
      [
        ["registry", "--priority", "1", "add", "a", "https://a.example/i.json"],
        "--priority",
        "registry add",
        "<name> <url> --priority <priority>",
      ],
    ] as const) {
      const stderr = await usageErrorOf(args);
      expect(stderr).toBe(
        `attune: EUSAGE: ${typed} is an option of \`attune ${command}\`: give it after the command\n` +
          `hint: e.g. \`attune ${command.split(" ")[0]} ${command.split(" ")[1]} ${usage}\`; only the global options (--home, -o, --api-url, …) can come before it\n`,
      );
    }
  });

  it("short flags run together before the subcommand name the one that does not belong there", async () => {
    const r = await runCli(["pack", "-qy", "uninstall", "x"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "attune: EUSAGE: -y is an option of `attune pack uninstall`: give it after the command\n" +
        "hint: e.g. `attune pack uninstall <ref> -y`; only the global options (--home, -o, --api-url, …) can come before it\n",
    );
    const unknown = await runCli(["-qx", "pack", "list"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe(
      "attune: EUSAGE: Unknown argument: -x\nhint: run `attune pack list --help` to see the options\n",
    );
    // global short flags together, the last one taking the next word, still work there
    for (const args of [
      ["-qo", "json", "pack", "checksum", "examples/packs/hello-world"],
      ["pack", "-qo", "json", "checksum", "examples/packs/hello-world"],
      ["-o=json", "pack", "checksum", "examples/packs/hello-world"],
    ]) {
      const ok = await runCli(args);
      expect({ args, code: ok.code, stderr: ok.stderr }).toEqual({ args, code: 0, stderr: "" });
      expect(JSON.parse(ok.stdout)).toMatchObject({ checksum: expect.stringMatching(/^sha256:/) });
    }
  });

  it("-ojson (the format joined to -o) is refused with the spelling to use, wherever it stands", async () => {
    for (const [args, typed, hint] of [
      [["-ojson", "pack", "list"], "-ojson", "write `-o json` (or -o=json)"],
      [["pack", "-ojson", "list"], "-ojson", "write `-o json` (or -o=json)"],
      [["pack", "list", "-ojson"], "-ojson", "write `-o json` (or -o=json)"],
      [["pack", "list", "-qoyaml"], "-qoyaml", "write `-qo yaml` (or -qo=yaml)"],
      [["pack", "list", "-oxml"], "-oxml", "write `-o json` (the formats: table, json, yaml)"],
    ] as const) {
      const stderr = await usageErrorOf(args);
      expect(stderr).toBe(
        `attune: EUSAGE: ${typed}: -o takes the output format as the next word, not joined to it\nhint: ${hint}\n`,
      );
    }
  });

  it("the output format without a value, or with a bad one, names the option and its values", async () => {
    for (const [args, message, hint] of [
      [["pack", "list", "-o"], "--output (-o) needs a value: table, json or yaml", "e.g. -o table"],
      [["-o", "pack", "list"], "--output (-o) needs a value: table, json or yaml", "e.g. -o table"],
      [["-o"], "--output (-o) needs a value: table, json or yaml", "e.g. -o table"],
      [["pack", "-o"], "--output (-o) needs a value: table, json or yaml", "e.g. -o table"],
      [["pack", "list", "-o="], "--output (-o) needs a value: table, json or yaml", "e.g. -o table"],
      [["pack", "list", "--output"], "--output needs a value: table, json or yaml", "e.g. --output table"],
      [
        ["pack", "list", "-o", "xml"],
        '--output (-o) must be table, json or yaml, not "xml"',
        "e.g. -o table",
      ],
      [
        ["pack", "list", "--source-type"],
        "--source-type needs a value: git, archive, local_directory, local_archive or registry",
        "e.g. --source-type git",
      ],
    ] as const) {
      const stderr = await usageErrorOf(args);
      expect(stderr).toBe(`attune: EUSAGE: ${message}\nhint: ${hint}\n`);
    }
  });

  it("an unknown dashed flag is named as typed, not also in camelCase", async () => {
    const r = await runCli(["pack", "list", "--sourc-type", "git"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "attune: EUSAGE: Unknown argument: --sourc-type\nhint: did you mean --source-type? (run with --help to see the options)\n",
    );
  });

  it("an unknown flag exits 2 and suggests the closest flag", async () => {
    const r = await runCli(["pack", "install", "./x", "--forse"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^attune: EUSAGE: Unknown argument: --forse\nhint: did you mean --force\?/);
  });

  it("an unknown flag before a positional is named as typed, not taken for a missing argument", async () => {
    for (const [args, message, hint] of [
      [
        ["pack", "checksum", "-Z", "/tmp"],
        "Unknown argument: -Z",
        "run `attune pack checksum --help` to see the usage",
      ],
      [
        ["registry", "add", "-Z", "nm", "https://x.example/i.json"],
        "Unknown argument: -Z",
        "run `attune registry add --help` to see the usage",
      ],
      [
        ["pack", "install", "--Force", "./x"],
        "Unknown argument: --Force",
        "did you mean --force? (run with --help to see the options)",
      ],
      [
        ["pack", "install", "--frce"],
        "Unknown argument: --frce",
        "did you mean --force? (run with --help to see the options)",
      ],
      [
        ["token", "create", "--nme", "x"],
        "Unknown argument: --nme",
        "did you mean --name? (run with --help to see the options)",
      ],
      [["pack", "show", "-Z"], "Unknown argument: -Z", "run `attune pack show --help` to see the usage"],
      // short flags run together: the unknown letter, with its dash
      [
        ["pack", "checksum", "-qZ", "/tmp"],
        "Unknown argument: -Z",
        "run `attune pack checksum --help` to see the usage",
      ],
      [
        ["pack", "checksum", "/tmp", "-Zq"],
        "Unknown argument: -Z",
        "run `attune pack checksum --help` to see the usage",
      ],
    ] as const) {
      const stderr = await usageErrorOf(args);
      expect(stderr).toBe(`attune: EUSAGE: ${message}\nhint: ${hint}\n`);
    }
    // the same words as when the flag comes after the positional
    expect(await usageErrorOf(["pack", "checksum", "-Z", "/tmp"])).toBe(
      await usageErrorOf(["pack", "checksum", "/tmp", "-Z"]),
    );
    // known options before the positional, and a missing one without any unknown flag, as before
    const missing = await usageErrorOf(["registry", "add", "--priority", "5", "nm"]);
    expect(missing.split("\n")[0]).toBe("attune: EUSAGE: missing <url>: attune registry add <name> <url>");
    const name = await usageErrorOf(["token", "create", "--scopes", "packs:read"]);
    expect(name.split("\n")[0]).toBe("attune: EUSAGE: Missing required argument: name");
  });

  it("a missing argument is named, from the command's usage", async () => {
    for (const [args, message] of [
      [["pack", "show"], "missing <ref>: attune pack show <ref>"],
      [["registry", "add", "main"], "missing <url>: attune registry add <name> <url>"],
      [["-o", "json", "token", "revoke"], "missing <id>: attune token revoke <id>"],
    ] as const) {
      const r = await runCli([...args]);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr.split("\n")[0]).toBe(`attune: EUSAGE: ${message}`);
    }
  });

  it("a missing argument, a bad -o value and no command are usage errors (exit 2)", async () => {
    for (const args of [
      ["pack", "checksum"],
      ["pack", "list", "-o", "xml"],
      [],
      ["pack"],
      ["token", "create"],
    ]) {
      const r = await runCli(args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toMatch(/^attune: EUSAGE: .+\nhint: .+\n$/);
      expect(r.stdout).toBe("");
    }
  });

  it("an option given without a value is a usage error, not an option left out", async () => {
    for (const args of [
      ["pack", "install", "./x", "--checksum", ""],
      ["pack", "install", "./x", "--checksum"],
      ["pack", "install", "./x", "--ref", " "],
      ["pack", "uninstall", "x", "--yes", "--version", ""],
      // global options too: `--home "$H"` with H unset must not act on ~/.attune
      ["pack", "list", "--home", ""],
      ["pack", "list", "--api-url"],
      ["pack", "list", "--database-url", " "],
      ["config", "show", "--packs-dir", ""],
      ["pack", "list", "--token", ""],
    ]) {
      const r = await runCli(args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^attune: EUSAGE: --[a-z-]+ needs a value\n/);
    }
    const twice = await runCli(["pack", "install", "./x", "--checksum", "a", "--checksum", "b"]);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(/--checksum was given more than once/);
    // a malformed one is refused naming the flag, before any source is looked at (both modes alike)
    for (const extra of [[], ["--api-url", "http://127.0.0.1:1", "--token", "t"]]) {
      const bad = await runCli(["pack", "install", "./x", "--checksum", "nothex", ...extra]);
      expect({ code: bad.code, stderr: bad.stderr }).toEqual({
        code: 2,
        stderr:
          'attune: EINVALID_CHECKSUM: --checksum "nothex" is not a valid checksum\n' +
          'hint: use the form "sha256:" followed by 64 hexadecimal characters\n',
      });
    }
    // on every command, for every option (handlers never see a list where they expect one value)
    for (const [args, name] of [
      [["token", "create", "--name", "a", "--name", "b"], "name"],
      [["token", "create", "--name", "a", "--scopes", "packs:read", "--scopes", "packs:install"], "scopes"],
      [
        [
          "pack",
          "index-entry",
          ".",
          "--git-url",
          "https://g.example/x.git",
          "--git-ref",
          "v1",
          "--git-ref",
          "v2",
        ],
        "git-ref",
      ],
      [["pack", "list", "--source-type", "git", "--source-type", "registry"], "source-type"],
      [
        ["registry", "add", "x", "https://x.example.com/i.json", "--priority", "1", "--priority", "2"],
        "priority",
      ],
      [["pack", "checksum", ".", "-o", "table", "-o", "yaml"], "output"],
    ] as const) {
      const r = await runCli([...args]);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toBe(
        `attune: EUSAGE: --${name} was given more than once\nhint: give --${name} once\n`,
      );
    }
  });

  it("the usage hint names the command, not the value of an option given before it", async () => {
    for (const args of [
      ["-o", "json", "pack", "checksum"],
      ["--home", "/tmp/x", "pack", "checksum"],
    ]) {
      const r = await runCli(args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/hint: run `attune pack checksum --help` to see the usage/);
    }
  });

  it("verify with refs and --all is a usage error (the refs were ignored)", async () => {
    const r = await runCli(["pack", "verify", "--all", "nope"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^attune: EUSAGE: give refs or --all, not both/);
  });

  it("--version below the top level is an unknown argument (exit 2), not the CLI's version", async () => {
    for (const args of [
      ["pack", "install", "./x", "--version", "1.0.0", "-o", "json"],
      ["pack", "show", "x", "--version"],
      ["registry", "list", "--version"],
    ]) {
      const r = await runCli(args);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(/^attune: EUSAGE: Unknown argument: --version\n/);
    }
  });

  it("an invalid ATTUNE_OUTPUT is a configuration error (exit 1) naming it; -o overrides it", async () => {
    const r = await runCli(["config", "show"], { env: baseEnv({ ATTUNE_OUTPUT: "xml" }) });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'attune: ECONFIG: ATTUNE_OUTPUT must be table, json or yaml, not "xml"\nhint: fix or unset ATTUNE_OUTPUT, or pass -o\n',
    );
    const ok = await runCli(["pack", "checksum", "examples/packs/hello-world", "-o", "json"], {
      env: baseEnv({ ATTUNE_OUTPUT: "xml" }),
    });
    expect(ok.code).toBe(0);
    const yaml = await runCli(["pack", "checksum", "examples/packs/hello-world"], {
      env: baseEnv({ ATTUNE_OUTPUT: "yaml" }),
    });
    expect(yaml.stdout).toMatch(/^checksum: sha256:[0-9a-f]{64}$/m);
  });

  it("a bad --api-url is refused before any request", async () => {
    const notUrl = await runCli(["pack", "list", "--api-url", "nope"]);
    expect(notUrl.code).toBe(2);
    expect(notUrl.stderr).toMatch(/^attune: EUSAGE: --api-url "nope" is not a URL/);
    const portZero = await runCli(["pack", "list", "--api-url", "http://127.0.0.1:0"]);
    expect(portZero.code).toBe(2);
    expect(portZero.stderr).toBe(
      'attune: EUSAGE: --api-url "http://127.0.0.1:0" has port 0\nhint: e.g. --api-url https://attune.example.com\n',
    );
    const creds = await runCli(["pack", "list", "--api-url", "https://u:p@api.example.com"]);
    expect(creds.code).toBe(2);
    expect(creds.stderr).not.toContain("u:p");
    const clear = await runCli([
      "pack",
      "list",
      "--api-url",
      "http://api.example.com",
      "--token",
      "att_secret",
    ]);
    expect(clear.code).toBe(1);
    expect(clear.stderr).toMatch(
      /^attune: EPOLICY: refusing plain http to .*: the API token and the answers/,
    );
    expect(clear.stderr).not.toContain("att_secret");
  });

  it("--version prints the package version", async () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(CLI_DIR, "package.json"), "utf8")) as {
      version: string;
    };
    const r = await runCli(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it("every command has --help with examples", async () => {
    const commands = [
      [],
      ["pack"],
      ["registry"],
      ["token"],
      ["db"],
      ["config"],
      ["pack", "checksum"],
      ["pack", "install"],
      ["pack", "uninstall"],
      ["pack", "list"],
      ["pack", "show"],
      ["pack", "history"],
      ["pack", "verify"],
      ["pack", "search"],
      ["pack", "index-entry"],
      ["registry", "list"],
      ["registry", "add"],
      ["registry", "remove"],
      ["db", "migrate"],
      ["token", "create"],
      ["token", "list"],
      ["token", "revoke"],
      ["config", "show"],
      ["completion"],
    ];
    for (const c of commands) {
      const r = await runCli([...c, "--help"]);
      expect({ c, code: r.code }).toEqual({ c, code: 0 });
      expect({ c, examples: r.stdout.includes("Examples:") }).toEqual({ c, examples: true });
      expect(r.stdout).toContain(`attune ${c.join(" ")}`.trim());
    }
  });

  it("`completion` prints a shell completion script", async () => {
    const r = await runCli(["completion"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("complete");
    expect(r.stdout).toContain("--get-yargs-completions");
    // with --help (or -h), its help and not the script
    for (const help of ["--help", "-h"]) {
      const h = await runCli(["completion", help]);
      expect(h.code).toBe(0);
      expect(h.stdout).toMatch(/^attune completion\n/);
      expect(h.stdout).toContain("print a shell completion script");
      expect(h.stdout).not.toContain("--get-yargs-completions");
    }
    const words = await runCli(["--get-yargs-completions", "pack", ""]);
    expect(words.stdout.split("\n")).toEqual(expect.arrayContaining(["install", "verify", "checksum"]));
    const flags = await runCli(["--get-yargs-completions", "pack", "install", "--"]);
    expect(flags.stdout.split("\n")).toEqual(expect.arrayContaining(["--force", "--checksum", "--api-url"]));
    // the one-letter aliases are -o and -q, never offered as `--o`/`--q`
    expect(flags.stdout.split("\n").filter((c) => /^--[a-z]$/.test(c))).toEqual([]);
    expect(flags.stdout.split("\n")).toEqual(expect.arrayContaining(["--output", "--quiet"]));
  });
});
