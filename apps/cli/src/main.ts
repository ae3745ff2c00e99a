import yargs, { type Argv, type CommandModule } from "yargs";
import { packCommand } from "./commands/pack";
import { registryCommand } from "./commands/registry";
import { tokenCommand } from "./commands/token";
import { dbCommand } from "./commands/db";
import { configCommand } from "./commands/config";
import { CliError, exitCodeFor, renderError } from "./errors";
import { globalOptions } from "./globals";
import { OUTPUT_FORMATS, isOutputFormat } from "./output";
import { runState } from "./run";
import { closest, distance } from "@attune/pack-storage/suggest";
import { VERSION } from "./version";

const EPILOGUE =
  "Local mode uses the embedded store under $ATTUNE_HOME (or DATABASE_URL); with --api-url (ATTUNE_API_URL) " +
  "every pack command goes through the Attune HTTP API instead. " +
  "Exit codes: 0 ok, 1 failure, 2 usage error, 3 integrity failure.";

const COMPLETION = "print a shell completion script (bash/zsh): attune completion >> ~/.bashrc";

/** The command groups, in the order help lists them (their subcommands: COMMAND_TREE). */
const GROUPS: Record<string, CommandModule> = {
  pack: packCommand,
  registry: registryCommand,
  token: tokenCommand,
  db: dbCommand,
  config: configCommand,
};

/**
 * Shell completion as yargs makes it, less the one-letter aliases it offers as `--o` and `--q`
 * (their spellings are `-o` and `-q`).
 */
const withoutLetterFlags = (
  _current: string,
  _argv: unknown,
  completionFilter: (onCompleted?: (err: Error | null, completions: string[] | undefined) => void) => unknown,
  done: (completions: string[]) => unknown,
): void =>
  void completionFilter((_err, found) => done((found ?? []).filter((c) => !/^--[a-z](?::|$)/i.test(c))));

export function buildParser(argv: string[]): Argv {
  let y0 = globalOptions(yargs(argv)).scriptName("attune").usage("$0 <command> [options]");
  for (const group of Object.values(GROUPS)) y0 = y0.command(group);
  // yargs prints the script for `completion` whatever follows it: `completion --help` gets a plain
  // command of that name instead, so that yargs prints its help
  const withCompletion =
    wantsHelp(argv) && commandWords(argv)[0] === "completion"
      ? y0.command({
          command: "completion",
          describe: COMPLETION,
          builder: (b) =>
            b.example("$0 completion >> ~/.bashrc", "complete attune's commands and options in bash"),
          handler: () => undefined,
        })
      : y0.completion("completion", COMPLETION, withoutLetterFlags);
  const y = withCompletion
    .example("$0 pack install ./my-pack", "install a pack from a directory")
    .example("$0 pack list -o json", "list installed packs as JSON")
    .example("$0 --api-url https://a.ex pack list", "list a remote Attune's packs")
    // every option takes one value (yargs would make a repeated one an array, which handlers and
    // checks do not expect); `pack verify`'s refs are the only list
    .middleware((a) => {
      for (const [key, value] of Object.entries(a)) {
        if (!Array.isArray(value) || key === "_" || key === "refs" || key.length === 1 || /[A-Z]/.test(key))
          continue;
        throw new CliError("EUSAGE", `--${key} was given more than once`, { hint: `give --${key} once` });
      }
      refuseFlagValues(argv, (y as unknown as { getOptions(): { boolean: string[] } }).getOptions().boolean);
    }, true)
    .demandCommand(1, "give a command, e.g. `attune pack list`")
    .recommendCommands()
    .strict()
    .version(VERSION)
    .alias("h", "help")
    .help()
    .epilogue(EPILOGUE)
    // yargs renders (and caches) the help text of every command it runs; wrapping that text is
    // most of the cost, so wrap only when help is actually printed.
    .wrap(wantsHelp(argv) ? Math.min(100, process.stdout.columns || 80) : null)
    .exitProcess(false)
    .locale("en")
    .fail((msg, err) => {
      // yargs reports usage problems here (err undefined, or its parser's YError: "Not enough
      // arguments following: expires-in") and rethrows handler errors (err set).
      if (err && err.name !== "YError") throw err;
      throw usageError(msg ?? err?.message ?? "invalid usage", argv, y as unknown as Argv);
    });
  if (!wantsHelp(argv)) skipHelpCache(y);
  return y as unknown as Argv;
}

/**
 * Every command and its subcommands with their arguments, as each command's --help lists them
 * (usage.test.ts checks that).
 */
export const COMMAND_TREE: Record<string, readonly string[]> = {
  pack: [
    "checksum <path>",
    "install <source>",
    "uninstall <ref>",
    "list",
    "show <ref>",
    "history <ref>",
    "verify [refs..]",
    "search <text>",
    "index-entry <path>",
  ],
  registry: ["list", "add <name> <url>", "remove <name>"],
  token: ["create", "list", "revoke <id>"],
  db: ["migrate"],
  config: ["show"],
  completion: [],
};
const subcommands = (top: string): string[] => (COMMAND_TREE[top] ?? []).map((u) => u.split(" ")[0]);
const COMMANDS = new Set(Object.keys(COMMAND_TREE));

/**
 * A flag given a value other than true/false (`--quiet=maybe`): yargs would take it as set and
 * drop the value; a typo there must not pass unnoticed.
 */
function refuseFlagValues(argv: string[], flags: string[]): void {
  const known = new Set(flags);
  for (const a of argv) {
    if (a === "--") return;
    const m = /^--?([a-z][a-z0-9-]*)=(.*)$/s.exec(a);
    if (!m) continue;
    // `--no-quiet=…`: the negated form takes no value at all (yargs would call it unknown)
    const negated = a.startsWith("--no-") && known.has(m[1].slice(3)) ? m[1].slice(3) : undefined;
    if (negated === undefined && (!known.has(m[1]) || m[2] === "true" || m[2] === "false")) continue;
    const flag = `${m[1].length === 1 ? "-" : "--"}${m[1]}`;
    throw new CliError("EUSAGE", `${flag} is a flag and takes no value (got "${m[2]}")`, {
      hint: negated
        ? `give ${flag} alone (or --${negated}=false)`
        : `give ${flag} alone (or ${flag}=true / ${flag}=false)`,
    });
  }
}
/** Global options that take a value as the next word (`-o json`, `--home /x`). */
const VALUE_OPTIONS = new Set([
  "--home",
  "--database-url",
  "--packs-dir",
  "-o",
  "--output",
  "--api-url",
  "--token",
]);

/**
 * The command words given, in order, skipping options and the values of the global ones. Between
 * the command and its subcommand only global options (and --help) can stand (`attune pack -q
 * --help nonsense`): after any other option, the words are that option's values, not commands.
 */
function commandWords(argv: string[]): string[] {
  const words: string[] = [];
  for (let i = 0; i < argv.length && words.length < 2; i++) {
    const a = argv[i];
    if (a === "--") break;
    if (VALUE_OPTIONS.has(a)) i++;
    else if (!a.startsWith("-")) words.push(a);
    else if (words.length === 0) continue;
    else if (globalOption(a) === "flag") continue;
    else if (globalOption(a) === "value") i++;
    else break; // the command's own options: its values are not commands
  }
  return words;
}

/**
 * Whether `a` is a global option: one that takes no value or has it joined (`-q`, `--no-debug`,
 * `--help`, `-qh`, `--home=/x`), or a group of short ones whose last takes the next word (`-qo`).
 */
function globalOption(a: string): "flag" | "value" | undefined {
  const globals = globalOptionNames();
  const [name, value] = a.split(/=(.*)/s);
  if (name.startsWith("--")) {
    const n = name.slice(2);
    const known = globals.has(n) || (value === undefined && n.startsWith("no-") && globals.has(n.slice(3)));
    return known ? "flag" : undefined;
  }
  const letters = [...name.slice(1)];
  if (letters.length === 0 || !letters.every((c) => globals.has(c))) return undefined;
  return value === undefined && VALUE_OPTIONS.has(`-${letters[letters.length - 1]}`) ? "value" : "flag";
}

/**
 * `attune nonsense --help` (or `attune pack nonsense --help`): yargs would print the parent's help
 * and exit 0, as if the command existed; say it does not, like the same line without --help.
 */
function unknownCommandForHelp(argv: string[]): CliError | null {
  const [top, sub] = commandWords(argv);
  if (top === undefined) return null;
  if (!COMMANDS.has(top)) return unknownCommand(top, [...COMMANDS], "attune");
  const subs = subcommands(top);
  if (sub === undefined || subs.length === 0 || subs.includes(sub)) return null;
  return unknownCommand(`${top} ${sub}`, subs, `attune ${top}`, sub);
}

function unknownCommand(
  shown: string,
  candidates: readonly string[],
  parent: string,
  word = shown,
): CliError {
  const guess = closest(word, [...candidates]);
  return new CliError("EUSAGE", `unknown command "${shown}"`, {
    hint: guess ? `did you mean \`${parent} ${guess}\`?` : `run \`${parent} --help\` to see the commands`,
  });
}

/**
 * yargs renders the help of every command it runs (even unwrapped, ~10 ms here), to show it should
 * that command fail later; our .fail() prints its own errors and never that text, so outside
 * `--help` the rendering is skipped. Reaches into yargs' internals (pinned version): if they change
 * shape, nothing is patched and yargs behaves as before.
 */
function skipHelpCache(y: unknown): void {
  const internals = (y as { getInternalMethods?: () => { getUsageInstance?: () => unknown } })
    .getInternalMethods;
  const usage = typeof internals === "function" ? internals.call(y).getUsageInstance?.() : undefined;
  if (usage && typeof (usage as { cacheHelpMessage?: unknown }).cacheHelpMessage === "function")
    (usage as { cacheHelpMessage: () => void }).cacheHelpMessage = () => undefined;
}

function wantsHelp(argv: string[]): boolean {
  return argv.includes("--help") || argv.includes("-h");
}

/** The option names (and aliases) the parser knows where it failed, without yargs' camelCase twins. */
function knownOptions(parser: Argv): string[] {
  const opts = (parser as unknown as { getOptions(): { key: Record<string, unknown> } }).getOptions();
  return Object.keys(opts.key).filter((k) => !/[A-Z]/.test(k));
}

/** An unknown option, named as typed, with the closest known one as a hint. */
function unknownOption(typed: string, known: string[], commandPath: string[]): CliError {
  const guess = closest(
    typed.replace(/^-+(no-)?/, ""),
    known.filter((k) => k.length > 1),
  );
  // the command (and its subcommand, if that is one) the help is of
  const [first, second] = commandPath;
  const words = !COMMANDS.has(first ?? "")
    ? []
    : subcommands(first).includes(second ?? "")
      ? [first, second]
      : [first];
  return new CliError("EUSAGE", `Unknown argument: ${typed}`, {
    hint: guess
      ? `did you mean --${guess}? (run with --help to see the options)`
      : `run \`attune ${words.length ? words.join(" ") + " " : ""}--help\` to see the options`,
  });
}

/**
 * An option before the (sub)command that is not a global one (`attune pack --force install x`,
 * `attune --frce pack list`, `attune pack -qy uninstall x`): refused whether or not yargs would
 * have made sense of it (`attune pack --ref v1 install <url>` parses, `attune pack --json checksum
 * .` does not), so that scripts do not depend on an accidental order. `--version` is the CLI's
 * only before the first command word, and then with no command after it; after `pack` it is
 * `pack uninstall`'s option. A lone `-` where a (sub)command goes is no command either.
 */
function optionBeforeCommand(argv: string[]): CliError | undefined {
  let words = 0;
  let top: string | undefined;
  // the CLI's --version, given before the first command word
  let version: string | undefined;
  const end = () => (version !== undefined && words > 0 ? versionWithCommand(version, argv) : undefined);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") return end();
    if (a === "-")
      return new CliError("EUSAGE", `unknown command "${top === undefined ? "-" : `${top} -`}"`, {
        hint: `run \`attune ${top === undefined ? "" : `${top} `}--help\` to see the commands`,
      });
    if (!a.startsWith("-")) {
      words++;
      top ??= a;
      // past the subcommand (or a command without any): the command's own options follow
      if (words >= 2 || !COMMAND_TREE[a]?.length) return end();
      continue;
    }
    if (VALUE_OPTIONS.has(a)) {
      i++;
      continue;
    }
    const name = a.replace(/=.*$/s, "");
    const globals = globalOptionNames();
    if (name.startsWith("--")) {
      const n = name.slice(2);
      if (words === 0 && n === "version") version = name;
      else if (!globals.has(n) && !(n.startsWith("no-") && globals.has(n.slice(3))))
        return misplacedOption(name, argv);
      continue;
    }
    // short flags run together (`-qo json`): each letter is named on its own (`-y` of `-qy`)
    const letters = name.slice(1);
    for (const c of letters) if (!globals.has(c)) return misplacedOption(`-${c}`, argv);
    // the last letter of the group takes the next word as its value (`-qo json`)
    if (name === a && VALUE_OPTIONS.has(`-${letters[letters.length - 1]}`)) i++;
  }
  return end();
}

/**
 * `attune --version pack list`: the CLI's version takes no command (yargs would report a missing
 * argument of `pack list`); before a subcommand that has a --version of its own
 * (`attune --version pack uninstall x`), that one was meant, and is said to go after it.
 */
function versionWithCommand(typed: string, argv: string[]): CliError {
  const [top, sub] = commandAround(argv);
  if (top !== undefined && subcommandOptions(top, sub).names.includes("version"))
    return misplacedOption(typed, argv);
  return new CliError("EUSAGE", `${typed} prints attune's version and takes no command`, {
    hint: "run `attune --version` alone (the version of an installed pack: `attune pack show <ref>`)",
  });
}

/**
 * `-ojson`: yargs does not take the rest of the word as -o's value but reads one flag per letter
 * (-o -j -s -o -n), then reports "--output was given more than once" or a missing command. Said
 * as it is, anywhere on the line; `-o=json` and `-qo json` parse as meant and pass.
 */
function outputRunTogether(argv: string[]): CliError | undefined {
  for (const a of argv) {
    if (a === "--") return undefined;
    const m = /^-([a-zA-Z]*?)o([a-zA-Z0-9][^=]*)$/.exec(a);
    if (!m || !(m[1] === "" || isOutputFormat(m[2]))) continue;
    const [, before, value] = m;
    return new CliError("EUSAGE", `${a}: -o takes the output format as the next word, not joined to it`, {
      hint: isOutputFormat(value)
        ? `write \`-${before}o ${value}\` (or -${before}o=${value})`
        : `write \`-${before}o json\` (the formats: ${OUTPUT_FORMATS.join(", ")})`,
    });
  }
  return undefined;
}

/**
 * The output format given without a value before the command (`attune -o pack list`): yargs takes
 * the command as the value, then reports the next word as an unknown command. Likewise `-o=`.
 */
function outputWithoutValue(argv: string[]): CliError | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") return undefined;
    // `-o=`: yargs reads it as the flags -o and -=
    // `-o` last, or followed by a command word or another option: it has no value
    const next = argv[i + 1];
    if (
      a === "-o=" ||
      ((a === "-o" || a === "--output") && (next === undefined || next.startsWith("-") || COMMANDS.has(next)))
    )
      return choiceError("output", "", [...OUTPUT_FORMATS], argv);
  }
  return undefined;
}

/** yargs' "Invalid values: Argument: output, Given: "x", Choices: "a", "b"", said in words. */
function invalidChoice(msg: string, argv: string[]): CliError | undefined {
  const m = /^Invalid values:\s+Argument: ([a-z][a-z0-9-]*), Given: "(.*?)", Choices: (.+?)\s*$/s.exec(msg);
  if (!m) return undefined;
  const [, name, given, list] = m;
  return choiceError(
    name,
    given,
    [...list.matchAll(/"([^"]*)"/g)].map((c) => c[1]),
    argv,
  );
}

function choiceError(name: string, given: string, choices: string[], argv: string[]): CliError {
  const allowed = `${choices.slice(0, -1).join(", ")} or ${choices[choices.length - 1]}`;
  // named as typed: `-o` for the output format when that is what was given
  const short = name === "output" && argv.some((a) => a === "-o" || a.startsWith("-o=")) ? " (-o)" : "";
  const flag = `--${name}${short}`;
  const hint = `e.g. ${short ? "-o" : `--${name}`} ${choices[0]}`;
  return given.trim() === ""
    ? new CliError("EUSAGE", `${flag} needs a value: ${allowed}`, { hint })
    : new CliError("EUSAGE", `${flag} must be ${allowed}, not "${given}"`, { hint });
}

/** A stand-in for yargs that only records the calls named in `on` (and ignores the others). */
function recorder(on: Record<string, (...args: unknown[]) => void>): Argv {
  const proxy: Argv = new Proxy({} as Argv, {
    get:
      (_, key) =>
      (...args: unknown[]) => {
        on[String(key)]?.(...args);
        return proxy;
      },
  });
  return proxy;
}

interface OptionNames {
  /** names and aliases */
  names: string[];
  /** the options (by name and alias) that take no value */
  flags: Set<string>;
}

/** No options (a builder that cannot be read, or no command). */
const noOptions = (): OptionNames => ({ names: [], flags: new Set() });

/** The options a builder declares, read off it with a recorder. */
function recordOptions(build: (y: Argv) => unknown): OptionNames {
  const names: string[] = [];
  const flags = new Set<string>();
  build(
    recorder({
      option: (name, o) => {
        const opt = o as { alias?: string | string[]; type?: string } | undefined;
        const all = [String(name), ...[opt?.alias ?? []].flat()];
        names.push(...all);
        if (opt?.type === "boolean") for (const n of all) flags.add(n);
      },
    }),
  );
  return { names, flags };
}

let globalNames: Set<string> | undefined;
/** The global options' names and aliases, and help's. */
function globalOptionNames(): Set<string> {
  globalNames ??= new Set([...recordOptions((y) => globalOptions(y)).names, "help", "h"]);
  return globalNames;
}

/**
 * The options (and aliases) of `attune <top> <sub>`, read off its builder with a recorder (yargs
 * builds a subcommand's options only when it runs it). None when the builder cannot be read so.
 */
function subcommandOptions(top: string, sub: string | undefined): OptionNames {
  try {
    const group = GROUPS[top]?.builder;
    if (sub === undefined || typeof group !== "function") return noOptions();
    const defs: Array<{ command?: unknown; builder?: unknown }> = [];
    group(recorder({ command: (d) => defs.push(d as (typeof defs)[number]) }));
    const def = defs.find((d) => typeof d.command === "string" && d.command.split(" ")[0] === sub);
    if (typeof def?.builder !== "function") return noOptions();
    return recordOptions(def.builder as (y: Argv) => unknown);
  } catch {
    return noOptions();
  }
}

/**
 * The command and subcommand a misplaced option stands between: the first word that is a command
 * (else the first word), and the first word after it that is one of its subcommands (else the next
 * word): the value of a misplaced option is neither (`pack --ref v1 install x`: `install`).
 */
function commandAround(argv: string[]): [string | undefined, string | undefined] {
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") break;
    if (VALUE_OPTIONS.has(a)) i++;
    else if (!a.startsWith("-")) words.push(a);
  }
  const at = Math.max(
    0,
    words.findIndex((w) => COMMANDS.has(w)),
  );
  const [top, ...rest] = words.slice(at);
  const subs = top !== undefined ? subcommands(top) : [];
  return [top, rest.find((w) => subs.includes(w)) ?? rest[0]];
}

/** An option before the subcommand: one of that subcommand's, said to go after it, or an unknown one. */
function misplacedOption(typed: string, argv: string[]): CliError {
  const [top, sub] = commandAround(argv);
  const own = top !== undefined ? subcommandOptions(top, sub) : noOptions();
  const name = typed.replace(/^-+(no-)?/, "");
  const usage = COMMAND_TREE[top ?? ""]?.find((u) => u.split(" ")[0] === sub);
  if (usage && own.names.includes(name)) {
    const example = own.flags.has(name) ? typed : `${typed} <${name.length > 1 ? name : "value"}>`;
    return new CliError(
      "EUSAGE",
      `${typed} is an option of \`attune ${top} ${sub}\`: give it after the command`,
      {
        hint: `e.g. \`attune ${top} ${usage} ${example}\`; only the global options (--home, -o, --api-url, …) can come before it`,
      },
    );
  }
  return unknownOption(
    typed,
    [...globalOptionNames(), ...own.names],
    [top, sub].filter((w) => w !== undefined),
  );
}

/**
 * Usage errors found before yargs parses: what it would misread (`-ojson`) or let pass by the
 * accident of the order (an option of the subcommand before it). Not for `--help` (which runs
 * nothing) nor shell completion.
 */
function beforeParsing(argv: string[]): CliError | undefined {
  if (wantsHelp(argv) || argv.includes("--get-yargs-completions")) return undefined;
  return (
    completionArgument(argv) ??
    valueTakesCommand(argv) ??
    outputRunTogether(argv) ??
    optionBeforeCommand(argv)
  );
}

/** `attune completion bash`: the one script serves bash and zsh; the parser called `bash` a command. */
function completionArgument(argv: string[]): CliError | undefined {
  const [first, second] = commandWords(argv);
  if (first !== "completion") return undefined;
  // the CLI's --version only before the command: yargs would print the script all the same
  if (argv.slice(argv.indexOf("completion") + 1).some((a) => /^--version(=|$)/.test(a)))
    return new CliError("EUSAGE", "Unknown argument: --version", {
      hint: "run `attune --version` alone for the CLI's version, or `attune completion --help` to see the usage",
    });
  if (second === undefined) return undefined;
  return new CliError("EUSAGE", `\`attune completion\` takes no argument (got "${second}")`, {
    hint: "the script works in bash and zsh: attune completion >> ~/.bashrc (or ~/.zshrc)",
  });
}

/**
 * A global option given without its value before the command (`attune --home pack list`): the
 * parser would take the command word as the value and report the subcommand as an unknown command.
 * Said as it is when the words after the option are a command and one of its subcommands.
 */
function valueTakesCommand(argv: string[]): CliError | undefined {
  for (let i = 0; i + 1 < argv.length; i++) {
    const a = argv[i];
    if (a === "--" || (!a.startsWith("-") && COMMANDS.has(a))) return undefined; // the command came first
    if (!VALUE_OPTIONS.has(a)) continue;
    const [word, sub] = [argv[i + 1], argv[i + 2]];
    // -o names its formats when it has none (outputWithoutValue)
    if (a === "-o" || a === "--output") {
      i++;
      continue;
    }
    if (!COMMANDS.has(word) || sub === undefined || !subcommands(word).includes(sub)) {
      i++; // the option's value
      continue;
    }
    return new CliError("EUSAGE", `${a} needs a value (it would take "${word}", the command, as its value)`, {
      hint: `give ${a} <value> before the command, e.g. \`attune ${a} <value> ${word} ${sub}\`, or leave it out`,
    });
  }
  return undefined;
}

function usageError(msg: string, argv: string[], parser: Argv): CliError {
  const known = knownOptions(parser);
  // what main() refuses before parsing, for a parser built without it (buildParser is exported)
  const before = beforeParsing(argv);
  if (before) return before;
  const choice = invalidChoice(msg, argv) ?? outputWithoutValue(argv);
  if (choice) return choice;
  const [first, second] = commandWords(argv);
  // the command words, not the values of options given before them (`-o json pack checksum`)
  const words =
    first !== undefined && COMMANDS.has(first) ? [first, second].filter((w) => w !== undefined) : [];
  // yargs checks the arguments' count and the required options before it looks for unknown
  // options, and an unknown option takes the next word as its value (`pack checksum -Z /tmp`,
  // `token create --nme x`): the option is named first, as when it comes last
  if (/^(Not enough non-option arguments|Missing required arguments?):/.test(msg)) {
    const typed = unknownTyped(argv, parser);
    if (typed.length > 0) return unknownArguments(typed, words, known);
  }
  // an option taking exactly one value (nargs: 1) given none
  const valueless = /^Not enough arguments following: (\S+)$/.exec(msg);
  if (valueless)
    return new CliError("EUSAGE", `--${valueless[1]} needs a value`, {
      hint: `give it one, e.g. --${valueless[1]} ${valueless[1] === "expires-in" ? "30d" : "<value>"}; run \`attune ${words.join(" ")} --help\` to see the usage`,
    });
  const didYouMean = /^Did you mean (.+)\?$/.exec(msg);
  if (didYouMean) {
    const words = argv.filter((a) => !a.startsWith("-") && a !== didYouMean[1]);
    const word = words.sort((a, b) => distance(a, didYouMean[1]) - distance(b, didYouMean[1]))[0] ?? "";
    return new CliError("EUSAGE", `unknown command "${word}"`, {
      hint: `did you mean \`${didYouMean[1]}\`?`,
    });
  }
  // `attune` alone (or with options only)
  if (first === undefined && /^give a command/.test(msg))
    return new CliError("EUSAGE", `missing <command>: attune <command>, one of ${[...COMMANDS].join(", ")}`, {
      hint: "e.g. `attune pack list`; run `attune --help` to see what each does",
    });
  // `attune pack`: a command group without its subcommand
  const subs = first !== undefined ? subcommands(first) : [];
  if (
    second === undefined &&
    subs.length > 0 &&
    /^(Not enough non-option arguments|give an? \w+ command)/.test(msg)
  )
    return new CliError("EUSAGE", `missing <command>: attune ${first} <command>, one of ${subs.join(", ")}`, {
      hint: `e.g. \`attune ${first} ${subs.includes("list") ? "list" : subs[0]}\`; run \`attune ${first} --help\` to see what each does`,
    });
  if (/^give an? \w+ command/.test(msg) && first !== undefined && second !== undefined && COMMAND_TREE[first])
    return unknownCommand(`${first} ${second}`, subcommands(first), `attune ${first}`, second);
  // yargs counts what is missing; name it, from the command's usage
  const few = /^Not enough non-option arguments: got (\d+)/.exec(msg);
  const usage =
    few && first !== undefined ? COMMAND_TREE[first]?.find((u) => u.split(" ")[0] === second) : undefined;
  const missing = usage?.match(/<[^>]+>/g)?.slice(Number(few?.[1] ?? 0)) ?? [];
  if (usage && missing.length > 0)
    return new CliError("EUSAGE", `missing ${missing.join(" ")}: attune ${first} ${usage}`, {
      hint: `run \`attune ${first} ${second} --help\` to see the usage`,
    });
  // `attune nonsense`: yargs calls an unknown first word an unknown argument
  if (first !== undefined && !COMMANDS.has(first) && /^Unknown argument/.test(msg))
    return unknownCommand(first, [...COMMANDS], "attune");
  const unknown = /^Unknown arguments?: (.+)$/.exec(msg);
  if (unknown) {
    // an option is named as typed (`--forse`, `-x`, `-Z`, `--Force`), with its dashes; yargs also
    // lists the camelCase twin of a dashed name (`sourc-type, sourcType`), which nobody typed
    const names = unknown[1]
      .split(", ")
      .map((n) => typedOption(n, argv) ?? (/[A-Z]/.test(n) ? null : n))
      .filter((n): n is string => n !== null);
    return unknownArguments(names.length > 0 ? names : [unknown[1]], words, known);
  }
  return new CliError("EUSAGE", msg, {
    hint: `run \`attune ${words.length ? words.join(" ") + " " : ""}--help\` to see the usage`,
  });
}

/** Unknown options (or words), named as typed, with the closest known option as a hint. */
function unknownArguments(names: string[], words: string[], known: string[]): CliError {
  const guess = closest(
    names[0].replace(/^-+(no-)?/, ""),
    known.filter((k) => k.length > 1),
  );
  return new CliError("EUSAGE", `Unknown argument${names.length > 1 ? "s" : ""}: ${names.join(", ")}`, {
    hint: guess
      ? `did you mean --${guess}? (run with --help to see the options)`
      : `run \`attune ${words.length ? words.join(" ") + " " : ""}--help\` to see the usage`,
  });
}

/** How the option yargs calls `name` was typed (`--name`, `--no-name`, `-n`, the `Z` of `-qZ`), if it was. */
function typedOption(name: string, argv: string[]): string | undefined {
  const forms = [`--${name}`, `--no-${name}`, `-${name}`];
  for (const a of argv) {
    if (a === "--") break;
    const typed = a.replace(/=.*$/s, "");
    if (forms.includes(typed)) return typed;
    // a letter of short flags run together
    if (name.length === 1 && /^-[a-zA-Z]{2,}$/.test(typed) && typed.includes(name)) return `-${name}`;
  }
  return undefined;
}

/**
 * The options on the line the parser does not know where it failed, as typed (`-Z`, `--Force`,
 * the `-Z` of `-qZ`). The word after a known option that takes a value is that value.
 */
function unknownTyped(argv: string[], parser: Argv): string[] {
  const opts = (
    parser as unknown as {
      getOptions(): { key: Record<string, unknown>; boolean: string[]; count: string[] };
    }
  ).getOptions();
  const known = new Set(Object.keys(opts.key));
  const flags = new Set([...opts.boolean, ...(opts.count ?? [])]);
  const found: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") break;
    // a word, a lone "-", a negative number: no option
    if (!a.startsWith("-") || a === "-" || /^-[0-9.]/.test(a)) continue;
    const [name, value] = a.split(/=(.*)/s);
    if (name.startsWith("--")) {
      const n = name.slice(2);
      if (known.has(n)) {
        if (value === undefined && !flags.has(n)) i++;
      } else if (!(value === undefined && n.startsWith("no-") && flags.has(n.slice(3)))) found.push(name);
      continue;
    }
    const letters = [...name.slice(1)];
    const bad = letters.find((c) => !known.has(c));
    if (bad !== undefined) found.push(`-${bad}`);
    else if (value === undefined && !flags.has(letters[letters.length - 1])) i++;
  }
  return found;
}

/**
 * `--` (end of options): yargs would drop the word after it or report `----` as a repeated option;
 * no argument of attune needs it, since a path that starts with `-` can be written `./-name`.
 */
function endOfOptions(): CliError {
  return new CliError("EUSAGE", "`--` is not accepted: attune has no arguments that need it", {
    hint: "leave `--` out; give a path that starts with - as ./-name",
  });
}

/** Run the CLI; resolves to the process exit code. Never calls process.exit, so stdout drains. */
export async function main(argv: string[]): Promise<number> {
  runState.exitCode = 0;
  const debug = argv.includes("--debug");
  try {
    if (argv.includes("--") && !argv.includes("--get-yargs-completions")) throw endOfOptions();
    const unknownForHelp = wantsHelp(argv) ? unknownCommandForHelp(argv) : null;
    if (unknownForHelp) throw unknownForHelp;
    const refused = beforeParsing(argv);
    if (refused) throw refused;
    await buildParser(argv).parseAsync();
    return runState.exitCode;
  } catch (err) {
    process.stderr.write(renderError(err, debug));
    return exitCodeFor(err);
  }
}
