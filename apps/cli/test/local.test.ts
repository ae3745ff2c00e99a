import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { ownedSuffix } from "@attune/pack-storage";
import { tmpDir } from "@attune/test-utils";
import YAML from "yaml";
import { INSTALLATION_FIELDS, PACK_FIELDS, makePack, makeTarGz } from "./fixtures";
import { ESCAPE_RE, baseEnv, json, runCli } from "./helpers";

type Rec = { pack: Record<string, unknown>; installation: Record<string, unknown> };

describe("pack commands in local mode (embedded SQLite store)", () => {
  const t = tmpDir("attune-cli-local-");
  const home = path.join(t.dir, "home");
  const src = makePack(path.join(t.dir, "src", "demo"), "demo_pack", "1.2.3");
  const env = baseEnv({ ATTUNE_HOME: home });
  const cli = (...args: string[]) => runCli(args, { env });
  afterAll(() => t.cleanup());

  let installed: Rec;
  beforeAll(async () => {
    const r = await cli("pack", "install", src, "-o", "json");
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    installed = json<Rec>(r);
  });

  it("install -o json prints {pack, installation} with the snake_case fields", () => {
    expect(Object.keys(installed).sort()).toEqual(["installation", "pack"]);
    expect(Object.keys(installed.pack).sort()).toEqual(PACK_FIELDS);
    expect(Object.keys(installed.installation).sort()).toEqual(INSTALLATION_FIELDS);
    expect(installed.pack).toMatchObject({ ref: "demo_pack", version: "1.2.3", label: "demo_pack label" });
    expect(installed.installation).toMatchObject({
      source_type: "local_directory",
      installation_method: "cli",
      checksum_verified: expect.any(Boolean),
    });
    expect(installed.installation.checksum).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(fs.existsSync(String(installed.installation.storage_path))).toBe(true);
  });

  it("the recorded checksum is the CLI's own `pack checksum` of the source", async () => {
    const r = await cli("pack", "checksum", src);
    expect(json<{ checksum: string }>(r).checksum).toBe(installed.installation.checksum);
  });

  it("list/show/history agree in json, yaml and table", async () => {
    const list = json<Rec[]>(await cli("pack", "list", "-o", "json"));
    expect(list.map((x) => x.pack.ref)).toEqual(["demo_pack"]);
    expect(list[0].installation.checksum).toBe(installed.installation.checksum);
    const yaml = YAML.parse((await cli("pack", "list", "-o", "yaml")).stdout) as Rec[];
    expect(yaml).toEqual(list);
    const table = await cli("pack", "list", "-o", "table");
    expect(table.stdout.split("\n")[0]).toMatch(/^REF\s+VERSION\s+SOURCE\s+INSTALLED\s+CHECKSUM$/);
    expect(table.stdout).toMatch(/^demo_pack\s+1\.2\.3\s+local_directory\s/m);
    // the install time fits uncut, to the minute, and is the recorded one
    const at = String(installed.installation.installed_at);
    const minute = `${at.slice(0, 10)} ${at.slice(11, 16)}Z`;
    expect(table.stdout).toContain(`  ${minute}  sha256:`);
    expect(Math.max(...table.stdout.split("\n").map((l) => l.length))).toBeLessThanOrEqual(80);
    const byType = json<Rec[]>(await cli("pack", "list", "--source-type", "git"));
    expect(byType).toEqual([]);
    // the table says the filter left nothing, not that nothing is installed
    const byTypeTable = await cli("pack", "list", "--source-type", "git", "-o", "table");
    expect(byTypeTable.stdout).toBe("No packs installed from a git source.\n");

    const show = json<Rec>(await cli("pack", "show", "demo_pack"));
    expect(show.pack.ref).toBe("demo_pack");
    expect(show.installation.id).toBe(installed.installation.id);
    const showTable = await cli("pack", "show", "demo_pack", "-o", "table");
    expect(showTable.stdout).toMatch(/^checksum:\s+sha256:[0-9a-f]{64}$/m);

    const history = json<Array<Record<string, unknown>>>(await cli("pack", "history", "demo_pack"));
    expect(history.length).toBeGreaterThanOrEqual(1);
    // show names who installed it as history does (a local user has no API identity id)
    const installer = history.find((e) => e.action === "install")?.actor_name;
    expect(typeof installer).toBe("string");
    expect(showTable.stdout).toMatch(new RegExp(`^installed by:\\s+${String(installer)}$`, "m"));
    expect(history.some((e) => e.action === "install" && e.outcome === "success")).toBe(true);
  });

  it("installing the same version again needs --force (exit 1, ECONFLICT with a hint)", async () => {
    const r = await cli("pack", "install", src);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^attune: ECONFLICT: .+\nhint: .+/);
    const forced = await cli("pack", "install", src, "--force", "-o", "json");
    expect(forced.code).toBe(0);
  });

  it("a wrong --checksum aborts with exit 3 and leaves the installed version", async () => {
    const wrong = `sha256:${"0".repeat(64)}`;
    const r = await cli("pack", "install", src, "--force", "--checksum", wrong);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^attune: EINTEGRITY: /);
    const show = json<Rec>(await cli("pack", "show", "demo_pack"));
    expect(show.installation.checksum).toBe(installed.installation.checksum);
  });

  it("an archive source takes its directory's or its file's checksum; a mismatch names both, by kind", async () => {
    const dir = makePack(path.join(t.dir, "src", "arch"), "arch_pack", "1.0.0");
    const tgz = makeTarGz(dir, path.join(t.dir, "arch_pack-1.0.0.tgz"));
    // a home of its own: the other tests count the packs in theirs
    const own = baseEnv({ ATTUNE_HOME: path.join(t.dir, "archive-home") });
    const cli = (...args: string[]) => runCli(args, { env: own });
    const sum = async (p: string) => json<{ checksum: string }>(await cli("pack", "checksum", p)).checksum;
    const [dirSum, fileSum] = [await sum(dir), await sum(tgz)];
    for (const given of [dirSum, fileSum]) {
      const ok = await cli("pack", "install", tgz, "--force", "--checksum", given, "-o", "json");
      expect({ code: ok.code, stderr: ok.stderr }).toEqual({ code: 0, stderr: "" });
      expect(json<Rec>(ok).installation.checksum_verified).toBe(true);
    }
    const wrong = `sha256:${"0".repeat(64)}`;
    const bad = await cli("pack", "install", tgz, "--force", "--checksum", wrong);
    expect(bad.code).toBe(3);
    expect(bad.stderr.split("\n")[0]).toBe(
      `attune: EINTEGRITY: checksum mismatch: expected ${wrong}, found archive checksum ${fileSum} (of the archive file's bytes) and directory checksum ${dirSum} (of the unpacked pack)`,
    );
    const help = await cli("pack", "install", "--help");
    expect(help.stdout.replace(/\s+/g, " ")).toMatch(
      /of the pack directory, or for an archive source of the archive file/,
    );
  });

  it("verify passes, then exits 3 naming the tampered, added and removed files", async () => {
    const ok = await cli("pack", "verify", "demo_pack");
    expect(ok.code).toBe(0);
    expect(json<Array<{ ok: boolean }>>(ok)).toEqual([
      expect.objectContaining({ ref: "demo_pack", ok: true }),
    ]);

    const dir = String(json<Rec>(await cli("pack", "show", "demo_pack")).installation.storage_path);
    fs.appendFileSync(path.join(dir, "actions", "run.sh"), "echo tampered\n");
    fs.writeFileSync(path.join(dir, "extra.txt"), "new");
    fs.rmSync(path.join(dir, "actions", "run.yaml"));
    const bad = await cli("pack", "verify", "demo_pack", "-o", "json");
    expect(bad.code).toBe(3);
    const [report] = json<Array<Record<string, unknown>>>(bad);
    expect(report).toMatchObject({
      ref: "demo_pack",
      ok: false,
      changed: ["actions/run.sh"],
      added: ["extra.txt"],
      removed: ["actions/run.yaml"],
    });
    expect(bad.stderr).toMatch(/^attune: EINTEGRITY: demo_pack differs .*actions\/run\.sh/);
    // a ref that is not installed, next to it, does not hide the tampering: both are reported, exit 3
    const mixed = await cli("pack", "verify", "demo_pack", "nope_pack", "-o", "json");
    expect(mixed.code).toBe(3);
    expect(json<Array<{ ref: string; ok: boolean }>>(mixed)).toEqual([
      expect.objectContaining({ ref: "demo_pack", ok: false }),
    ]);
    expect(mixed.stderr).toMatch(/^attune: ENOTFOUND: pack 'nope_pack' is not installed$/m);
    expect(mixed.stderr).toMatch(/^attune: EINTEGRITY: demo_pack differs/m);
    const table = await cli("pack", "verify", "--all", "-o", "table");
    expect(table.code).toBe(3);
    expect(table.stdout).toMatch(/^demo_pack\s+TAMPERED/m);
    expect(table.stdout).toMatch(/^\s+changed\s+actions\/run\.sh$/m);
    expect(ESCAPE_RE.test(table.stdout + table.stderr)).toBe(false);
    // a planted link cannot be hashed: the table says so, not that the directory is gone
    await cli("pack", "install", src, "--force");
    fs.symlinkSync("/etc/passwd", path.join(dir, "evil"));
    const linked = await cli("pack", "verify", "demo_pack", "-o", "table");
    expect(linked.code).toBe(3);
    expect(linked.stdout).toMatch(/^\s+found\s+\(cannot be hashed: see the error below\)$/m);
    expect(linked.stdout).toMatch(/^\s+error\s+ESYMLINK: /m);
    expect(linked.stdout).not.toMatch(/directory is gone/);
    fs.rmSync(path.join(dir, "evil"));
    await cli("pack", "install", src, "--force");
  });

  it("never passes escape sequences from a pack or its files to the terminal", async () => {
    const hostile = path.join(t.dir, "src", "inj");
    fs.mkdirSync(hostile, { recursive: true });
    fs.writeFileSync(
      path.join(hostile, "pack.yaml"),
      'ref: inj_pack\nversion: 1.0.0\nlabel: "\\e[31mRED\\e[0m\\rOVERWRITE"\ndescription: "x\\e]0;title\\a \\u202egnp.exe"\n',
    );
    const shown = await cli("pack", "install", hostile, "-o", "table");
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain("\\x1b[31mRED\\x1b[0m\\x0dOVERWRITE");
    const dir = String(json<Rec>(await cli("pack", "show", "inj_pack")).installation.storage_path);
    fs.writeFileSync(path.join(dir, "evil\x1b[2K\rname"), "planted");
    const verify = await cli("pack", "verify", "inj_pack", "-o", "table");
    expect(verify.code).toBe(3);
    expect(verify.stdout).toMatch(/^\s+added\s+evil\\x1b\[2K\\x0dname$/m);
    // a line break in a file name is shown too, not folded into a space: "a<LF>b" is not "a b"
    fs.writeFileSync(path.join(dir, "a\nb"), "planted");
    const broken = await cli("pack", "verify", "inj_pack", "-o", "table");
    expect(broken.stdout).toMatch(/^\s+added\s+a\\x0ab$/m);
    expect(broken.stderr).toContain("inj_pack/a\\x0ab");
    expect(broken.stdout + broken.stderr).not.toMatch(/\ba b\b/);
    fs.rmSync(path.join(dir, "a\nb"));
    for (const r of [shown, verify, await cli("pack", "show", "inj_pack", "-o", "table")])
      // eslint-disable-next-line no-control-regex -- the point is that there are none
      expect(r.stdout + r.stderr).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]/);
    // JSON keeps the exact values (escaped by JSON itself)
    expect(json<Rec>(await cli("pack", "show", "inj_pack", "-o", "json")).pack.label).toBe(
      "\x1b[31mRED\x1b[0m\rOVERWRITE",
    );
    await cli("pack", "uninstall", "inj_pack", "--yes");
  });

  it("history --page/--page-size: one page, page 1 the newest, in the API's {data, pagination} shape", async () => {
    type Event = { id: number; action: string };
    for (let i = 0; i < 4; i++) expect((await cli("pack", "verify", "demo_pack")).code).toBe(0);
    const all = json<Event[]>(await cli("pack", "history", "demo_pack", "-o", "json"));
    const n = all.length;
    expect(n).toBeGreaterThanOrEqual(5);
    const p1 = await cli("pack", "history", "demo_pack", "--page-size", "2", "-o", "json");
    expect({ code: p1.code, stderr: p1.stderr }).toEqual({ code: 0, stderr: "" });
    expect(json(p1)).toEqual({
      data: all.slice(n - 2),
      pagination: { page: 1, page_size: 2, total_items: n, total_pages: Math.ceil(n / 2) },
    });
    const p2 = json<{ data: Event[] }>(
      await cli("pack", "history", "demo_pack", "--page=2", "--page-size=2"),
    );
    expect(p2.data).toEqual(all.slice(n - 4, n - 2));
    // --page alone: 20 a page; past the last page: no events, the totals still given
    expect(json(await cli("pack", "history", "demo_pack", "--page", "1"))).toEqual({
      data: all.slice(-20),
      pagination: { page: 1, page_size: 20, total_items: n, total_pages: Math.ceil(n / 20) },
    });
    expect(json(await cli("pack", "history", "demo_pack", "--page", "50", "--page-size", "2"))).toEqual({
      data: [],
      pagination: { page: 50, page_size: 2, total_items: n, total_pages: Math.ceil(n / 2) },
    });
    const yaml = YAML.parse(
      (await cli("pack", "history", "demo_pack", "--page-size", "2", "-o", "yaml")).stdout,
    ) as unknown;
    expect(yaml).toEqual(json(p1));
    // the table: the page's events oldest first, then where the page stands
    const table = await cli("pack", "history", "demo_pack", "--page-size", "2", "-o", "table");
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^TIME\s+ACTION\s+OUTCOME/);
    expect(lines.slice(1, 3).map((l) => l.split(/ +/)[2])).toEqual(all.slice(n - 2).map((e) => e.action));
    expect(lines[3]).toBe(
      `Page 1 of ${Math.ceil(n / 2)} (${n} events, page 1 the newest; --page 2 --page-size 2 for older ones)`,
    );
    const last = await cli("pack", "history", "demo_pack", "--page", "50", "-o", "table");
    expect(last.stdout).toBe(
      `No events.\nPage 50 is past the last (1 page of 20, ${n} events, page 1 the newest)\n`,
    );
    // a ref never seen: ENOTFOUND on any page, as without paging
    const never = await cli("pack", "history", "nope_pack", "--page", "2");
    expect(never.code).toBe(1);
    expect(never.stderr).toMatch(
      /^attune: ENOTFOUND: pack 'nope_pack' has no history: it was never installed here\n/,
    );
  });

  it.each([
    [["--page", "0"], '--page must be a whole number from 1 to 1000000, not "0"'],
    [["--page", "1000001"], '--page must be a whole number from 1 to 1000000, not "1000001"'],
    [["--page", "0x10"], '--page must be a whole number from 1 to 1000000, not "0x10"'],
    [["--page", "1e3"], '--page must be a whole number from 1 to 1000000, not "1e3"'],
    [["--page-size", "101"], '--page-size must be a whole number from 1 to 100, not "101"'],
    [["--page-size", "-1"], '--page-size must be a whole number from 1 to 100, not "-1"'],
    [["--page-size", "2.5"], '--page-size must be a whole number from 1 to 100, not "2.5"'],
    [["--page="], "--page needs a value"],
  ])("history %j is a usage error (exit 2)", async (flags, message) => {
    const r = await cli("pack", "history", "demo_pack", ...flags);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 2, stdout: "" });
    expect(r.stderr.split("\n")[0]).toBe(`attune: EUSAGE: ${message}`);
  });

  it("verify with no refs and no --all is a usage error", async () => {
    const r = await cli("pack", "verify");
    expect(r.code).toBe(2);
  });

  it("unknown refs are ENOTFOUND (exit 1) for show, history, verify and uninstall", async () => {
    for (const args of [
      ["show", "nope_pack"],
      ["history", "nope_pack"],
      ["verify", "nope_pack"],
      ["uninstall", "nope_pack", "--yes"],
    ]) {
      const r = await cli("pack", ...args);
      expect({ args, code: r.code }).toEqual({ args, code: 1 });
      expect(r.stderr).toMatch(/^attune: ENOTFOUND: /);
      // history outlives an uninstall: what it lacks is history, not an installation
      if (args[0] === "history")
        expect(r.stderr).toMatch(
          /^attune: ENOTFOUND: pack 'nope_pack' has no history: it was never installed here\n/,
        );
    }
  });

  it("an invalid source fails with one line: missing path, invalid pack.yaml", async () => {
    const missing = await cli("pack", "install", path.join(t.dir, "does-not-exist"));
    expect(missing.code).toBe(1);
    expect(missing.stderr.split("\n")[0]).toMatch(/^attune: E[A-Z_]+: /);
    const broken = path.join(t.dir, "broken");
    fs.mkdirSync(broken);
    fs.writeFileSync(path.join(broken, "pack.yaml"), "ref: Bad Ref\nversion: 1\n");
    const r = await cli("pack", "install", broken);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^attune: EMANIFEST: .*ref/);
    expect(r.stdout).toBe("");
  });

  it("the table's first line says whether the install upgraded, downgraded or reinstalled", async () => {
    const first = (r: { stdout: string }) => r.stdout.split("\n")[0];
    const v1 = makePack(path.join(t.dir, "src", "moves-1"), "moves_pack", "1.0.0");
    const v2 = makePack(path.join(t.dir, "src", "moves-2"), "moves_pack", "2.0.0");
    expect(first(await cli("pack", "install", v1, "-o", "table"))).toBe("Installed moves_pack 1.0.0");
    expect(first(await cli("pack", "install", v2, "-o", "table"))).toBe(
      "Upgraded moves_pack from 1.0.0 to 2.0.0",
    );
    expect(first(await cli("pack", "install", v1, "-o", "table"))).toBe(
      "Downgraded moves_pack from 2.0.0 to 1.0.0",
    );
    expect(first(await cli("pack", "install", v1, "--force", "-o", "table"))).toBe(
      "Reinstalled moves_pack 1.0.0",
    );
    const history = await cli("pack", "history", "moves_pack", "-o", "table");
    expect(
      history.stdout
        .split("\n")
        .slice(1, 5)
        .map((l) => l.split(/ +/)[2]),
    ).toEqual(["install", "upgrade", "downgrade", "reinstall"]);
    await cli("pack", "uninstall", "moves_pack", "--yes");
  });

  it("--skip-deps says what it let through, on stderr in every format, and in the JSON", async () => {
    const base = makePack(path.join(t.dir, "src", "skip-base"), "skip_base", "1.0.0");
    const user = makePack(path.join(t.dir, "src", "skip-user"), "skip_user", "1.0.0", {
      "pack.yaml":
        "ref: skip_user\nlabel: user\nversion: 1.0.0\ndescription: needs skip_base\ndependencies:\n  - skip_base@^1\n  - skip_ghost\n",
    });
    expect((await cli("pack", "install", base)).code).toBe(0);
    const refused = await cli("pack", "install", user);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /^attune: EDEPENDENCY: pack 'skip_user' needs skip_ghost@\* \(not installed\)/,
    );
    const skipped = await cli("pack", "install", user, "--skip-deps", "-o", "table");
    expect(skipped.code).toBe(0);
    expect(skipped.stderr).toBe(
      "attune: warning: skip_user 1.0.0 is installed without what it needs: skip_ghost@* (not installed); install it before using the pack\n",
    );
    // the table shows what the pack needs
    expect(skipped.stdout).toMatch(/^dependencies: +skip_base@\^1, skip_ghost$/m);
    const gone = await cli("pack", "uninstall", "skip_base", "--yes", "--skip-deps", "-o", "json");
    expect(gone.code).toBe(0);
    expect(json(gone)).toEqual({
      ref: "skip_base",
      removed: ["1.0.0"],
      broken_dependents: [{ ref: "skip_user", version: "1.0.0", range: "^1" }],
    });
    expect(gone.stderr).toBe(
      "attune: warning: with skip_base removed, installed packs go without what they need: skip_user 1.0.0 (needs skip_base@^1)\n",
    );
    const again = await cli("pack", "install", user, "--force", "--skip-deps", "-o", "json");
    expect(json<Record<string, unknown>>(again).unmet_dependencies).toEqual([
      { ref: "skip_base", range: "^1", installed: null },
      { ref: "skip_ghost", range: "*", installed: null },
    ]);
    expect((await cli("pack", "uninstall", "skip_user", "--yes")).code).toBe(0);
  });

  it("each refused source says what to do on a hint line", async () => {
    const odd = path.join(t.dir, "odd");
    const fifo = makePack(path.join(odd, "fifo"), "fifo_pack");
    execFileSync("mkfifo", [path.join(fifo, "pipe")]);
    const list = path.join(odd, "list");
    fs.mkdirSync(list);
    fs.writeFileSync(path.join(list, "pack.yaml"), "- a\n");
    const afile = path.join(odd, "a-file");
    fs.writeFileSync(afile, "");
    for (const [args, code, first, hint] of [
      [
        ["pack", "install", fifo],
        1,
        /^attune: ESPECIAL_FILE: pipe is a FIFO; packs may only contain regular files and directories$/m,
        "move it out of the pack's directory",
      ],
      [
        ["pack", "install", path.join(odd, "nope")],
        1,
        /^attune: ENOENT: source .*nope: no such file/,
        "check the path;",
      ],
      [
        ["pack", "install", ""],
        2,
        /^attune: EINVALID_INPUT: source is required/,
        "give a pack directory or archive path",
      ],
      [
        ["pack", "install", list],
        1,
        /^attune: EMANIFEST: pack\.yaml: must be a mapping of fields/,
        "write one field per line",
      ],
      [
        ["pack", "list", "--packs-dir", afile],
        1,
        /^attune: EIO: cannot create the packs directory .*EEXIST/,
        "something that is not a directory is already there",
      ],
    ] as const) {
      const r = await cli(...args);
      expect({ args, code: r.code }).toEqual({ args, code });
      const [line, hintLine] = r.stderr.split("\n");
      expect({ args, line }).toEqual({ args, line: expect.stringMatching(first) });
      expect({ args, hintLine }).toEqual({ args, hintLine: expect.stringContaining(`hint: ${hint}`) });
    }
  });

  it("a bare name that is also a local directory: the registry miss hints at ./name", async () => {
    const r = await runCli(["pack", "install", "demo"], { env, cwd: path.join(t.dir, "src") });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^attune: ENOTFOUND: /);
    expect(r.stderr).toContain(
      "hint: a bare name is a registry ref; for the local directory give a path: attune pack install ./demo\n",
    );
  });

  it("--ref or --registry with a local directory is a usage error naming the option", async () => {
    const dir = path.join(t.dir, "broken"); // never read: the options are refused first
    const ref = await cli("pack", "install", dir, "--ref", "v1");
    expect(ref.code).toBe(2);
    expect(ref.stderr).toMatch(
      /^attune: EINVALID_INPUT: a ref only applies to git or registry sources, not to a local directory source\nhint: .*--ref/,
    );
    const reg = await cli("pack", "install", dir, "--registry", "main");
    expect(reg.code).toBe(2);
    expect(reg.stderr).toMatch(
      /^attune: EINVALID_INPUT: registry: .*not to a local directory source\nhint: .*--registry/,
    );
  });

  it("every command warns while installed packs have no files in the packs directory (emptied under it)", async () => {
    const own = baseEnv({ ATTUNE_HOME: path.join(t.dir, "emptied-home") });
    const run = (...args: string[]) => runCli(args, { env: own });
    expect((await run("pack", "install", src, "-q")).code).toBe(0);
    const clean = await run("pack", "list", "-o", "json");
    expect(clean.stderr).toBe("");
    const packs = path.join(t.dir, "emptied-home", "packs");
    for (const e of fs.readdirSync(packs)) fs.rmSync(path.join(packs, e), { recursive: true, force: true });
    for (const args of [
      ["pack", "list", "-o", "json"],
      ["pack", "list", "-q", "-o", "json"],
    ]) {
      const r = await run(...args);
      expect(r.code).toBe(0);
      expect(json<Rec[]>(r)).toHaveLength(1); // the record is still there; the output is unchanged
      expect(r.stderr).toBe(
        "attune: warning: an installed pack has no files in the packs directory: demo_pack 1.2.3\n" +
          "hint: restore the packs directory from a backup, or reinstall each with `attune pack install <source> --force`; `attune pack verify --all` lists them\n",
      );
    }
    // reinstalled, the warning is gone
    expect((await run("pack", "install", src, "--force", "-q")).code).toBe(0);
    expect((await run("pack", "list", "-o", "json")).stderr).toBe("");
  });

  it("every command warns while the packs directory holds a version without a record; uninstall removes it", async () => {
    const own = baseEnv({ ATTUNE_HOME: path.join(t.dir, "untracked-home") });
    const run = (...args: string[]) => runCli(args, { env: own });
    expect((await run("pack", "install", src, "-q")).code).toBe(0);
    // a version's files without a row (copied there by hand, say)
    fs.cpSync(src, path.join(t.dir, "untracked-home", "packs", "demo_pack-7.7.7"), { recursive: true });
    const warning =
      "attune: warning: the packs directory holds a pack version without a record: demo_pack 7.7.7\n" +
      "hint: reinstall it to record it (`attune pack install <source> --force`), or remove its files with `attune pack uninstall <ref> --version <version>`\n";
    const listed = await run("pack", "list", "-o", "json");
    expect(listed.code).toBe(0);
    expect(listed.stderr).toBe(warning);
    expect(json<Rec[]>(listed)).toHaveLength(1);
    const removed = await run("pack", "uninstall", "demo_pack", "--version", "7.7.7", "--yes", "-o", "json");
    expect({ code: removed.code, out: json(removed) }).toEqual({
      code: 0,
      out: { ref: "demo_pack", removed: ["7.7.7"] },
    });
    expect((await run("pack", "list", "-o", "json")).stderr).toBe("");
  });

  it("after many interrupted installs the notices stop at five, then say how many more", async () => {
    const own = baseEnv({ ATTUNE_HOME: path.join(t.dir, "attempts-home") });
    const run = (...args: string[]) => runCli(args, { env: own });
    expect((await run("pack", "list", "-o", "json")).code).toBe(0); // makes the store
    const dir = path.join(t.dir, "attempts-home", "packs", ".attempts");
    fs.mkdirSync(dir, { recursive: true });
    // this host's tag (host name and PID namespace, which the CLI run below shares)
    const host = ownedSuffix().split("@")[1].split("~")[0];
    // as installs killed while fetching would leave them: dead owners on this host
    for (let i = 0; i < 7; i++)
      fs.writeFileSync(
        path.join(dir, `99999999${i}@${host}~00000000000${i}.json`),
        JSON.stringify({
          ref: `lost_${i}`,
          version: "1.0.0",
          phase: "fetch",
          source_type: "local_directory",
          requested_source: `/src/lost_${i}`,
          requested_ref: null,
          force: false,
          actor_id: null,
          actor_name: "someone",
          token_id: null,
          method: "cli",
          started_at: "2026-01-01T00:00:00.000Z",
          pid: 999999990 + i,
          host: os.hostname(),
        }),
        { mode: 0o600 },
      );
    const r = await run("pack", "list", "-o", "json");
    expect(r.code).toBe(0);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(6);
    expect(
      lines
        .slice(0, 5)
        .every((l) => /^attune: notice: an interrupted install of lost_\d 1\.0\.0 was rolled back/.test(l)),
    ).toBe(true);
    expect(lines[5]).toMatch(
      /^attune: notice: and 2 more interrupted operations were settled \(lost_\d, lost_\d\); each pack's history has them$/,
    );
    expect(fs.readdirSync(dir)).toEqual([]);
    expect((await run("pack", "list", "-o", "json")).stderr).toBe("");
  });

  it("uninstall refuses without --yes when stdin is not a TTY, then removes with --yes", async () => {
    const refused = await cli("pack", "uninstall", "demo_pack");
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("--yes");
    expect(json<Rec[]>(await cli("pack", "list"))).toHaveLength(1);
    const r = await cli("pack", "uninstall", "demo_pack", "--yes", "-o", "json");
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    expect(json(r)).toEqual({ ref: "demo_pack", removed: ["1.2.3"] });
    expect(json<Rec[]>(await cli("pack", "list"))).toEqual([]);
    expect((await cli("pack", "show", "demo_pack")).code).toBe(1);
    const history = json<Array<{ action: string; method: string | null }>>(
      await cli("pack", "history", "demo_pack"),
    );
    // recorded as done through the CLI, like the installs
    expect(history.find((e) => e.action === "uninstall")?.method).toBe("cli");
  });
});
