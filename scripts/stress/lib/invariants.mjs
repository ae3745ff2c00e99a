// Invariants of a recovered store (crash stress, docs/stress.md). `installer` was just opened, so
// its reconcile report (`lastReconcile`) says what the crashed operation left and what was done.
import fs from "node:fs";
import path from "node:path";
import { importDist } from "../../bench/lib/product.mjs";

const { calculateDirectoryChecksum } = await importDist("packages/pack-storage");
const SCRATCH = [".staging", ".journal", ".trash", ".attempts"];

async function history(installer, ref) {
  try {
    return await installer.history(ref);
  } catch (e) {
    if (e.code === "ENOTFOUND") return [];
    throw e;
  }
}

/** I3: leftovers in the scratch dirs, store dirs no stable path points at. */
function scratchProblems(packsDir) {
  const problems = [];
  for (const d of SCRATCH) {
    const p = path.join(packsDir, d);
    // the store's own files (its id) start with "."; content dirs and scratch entries never do
    const left = fs.existsSync(p) ? fs.readdirSync(p).filter((n) => !n.startsWith(".")) : [];
    if (left.length) problems.push(`I3 ${d} not empty after reconcile: ${left.join(", ")}`);
  }
  const store = path.join(packsDir, ".store-v1");
  if (fs.existsSync(store)) {
    const linked = new Set(
      fs
        .readdirSync(packsDir)
        .filter((n) => !n.startsWith("."))
        .map((n) => path.join(packsDir, n))
        .filter((p) => fs.lstatSync(p).isSymbolicLink())
        .map((p) => path.resolve(packsDir, fs.readlinkSync(p))),
    );
    // a store dir a replace retired stays for its readers for a grace period, marked `.retired~<name>`
    const retired = (n) => fs.existsSync(path.join(store, `.retired~${n}`));
    for (const n of fs.readdirSync(store).filter((n) => !n.startsWith(".")))
      if (!linked.has(path.join(store, n)) && !retired(n))
        problems.push(`I3 orphan store dir .store-v1/${n}`);
  }
  return problems;
}

/** The version a finished operation must leave, or undefined when either outcome is legal. */
function expectedVersion(before, op, mode, outcome) {
  const target = op.kind === "uninstall" ? null : op.version;
  if (mode === "after-fetch" || mode === "before-journal" || mode === "after-journal") return before.version;
  if (mode === "after-store" || mode === "after-commit" || mode === "uninstall-after-commit") return target;
  if (outcome.signal !== "SIGKILL") return outcome.code === 0 ? target : before.version;
  return undefined;
}

/**
 * Check the store for `ref` after a (possibly killed) operation.
 * Returns { problems: string[], resolutions: string[], after: { version, events, interrupted } }.
 */
export async function checkStore(installer, { ref, expected, before, op, mode, outcome }) {
  const problems = [];
  const report = installer.lastReconcile ?? { interrupted: [], missingFiles: [], untracked: [], busy: [] };
  const resolutions = report.interrupted.map((x) => `${x.operation}:${x.resolution}`);
  if (report.busy.length) problems.push(`reconcile left busy refs: ${report.busy.join(", ")}`);
  for (const u of report.untracked) problems.push(`I3 untracked files without a row: ${u.path}`);
  for (const m of report.missingFiles) problems.push(`I2 row without its files: ${m.ref} ${m.version}`);

  const rows = (await installer.list({ pageSize: 500 })).items.filter((r) => r.pack.ref === ref);
  const version = rows[0]?.pack.version ?? null;
  // verify appends its own events; only install/upgrade/uninstall/failed ones count here
  const events = (await history(installer, ref)).filter((e) => e.action !== "verify");
  const interrupted = events.filter((e) => e.outcome === "interrupted").length;

  // I1: every final path holds a complete tree of exactly its version
  const packsDir = installer.storage.packsDir;
  const entries = fs.readdirSync(packsDir).filter((n) => n.startsWith(`${ref}-`));
  for (const n of entries) {
    const v = n.slice(ref.length + 1);
    let sum;
    try {
      sum = await calculateDirectoryChecksum(fs.realpathSync(path.join(packsDir, n)));
    } catch (e) {
      sum = `unreadable (${e.code ?? e.message})`;
    }
    if (sum !== expected[v]) problems.push(`I1 partial or foreign content at ${n}: ${sum}`);
  }
  // I3: exactly the recorded version is on disk
  const want = version ? [`${ref}-${version}`] : [];
  if (JSON.stringify(entries.sort()) !== JSON.stringify(want))
    problems.push(`I3 on disk [${entries.join(", ")}] but recorded [${want.join(", ")}]`);
  problems.push(...scratchProblems(packsDir));
  // I2: the recorded checksum is the version's and the files still match it
  if (rows.length > 1) problems.push(`I2 ${rows.length} rows for ${ref}`);
  if (version) {
    if (rows[0].installation.checksum !== expected[version])
      problems.push(`I2 recorded checksum ${rows[0].installation.checksum} is not ${version}'s`);
    const v = await installer.verify(ref);
    if (!v.ok)
      problems.push(
        `I2 verify failed: changed ${v.changed} added ${v.added} removed ${v.removed} ${v.error ?? ""}`,
      );
  }
  // I4: each adopted/rolled-back operation left exactly one `interrupted` event
  const settled = report.interrupted.filter((x) => x.ref === ref && x.resolution !== "completed").length;
  if (interrupted - before.interrupted !== settled)
    problems.push(
      `I4 ${interrupted - before.interrupted} new interrupted event(s) for ${settled} interrupted operation(s)`,
    );
  // killed before its journal (fetching, checking): the attempt is recorded all the same
  const preJournal = (mode === "after-fetch" || mode === "before-journal") && outcome.signal === "SIGKILL";
  if ((mode === "after-journal" || mode === "after-store" || preJournal) && settled !== 1)
    problems.push(
      `I4 crash at ${mode} not found by reconcile (resolutions: ${resolutions.join(", ") || "none"})`,
    );
  // outcome: the named crash points and completed runs have one legal final state
  const legal = expectedVersion(before, op, mode, outcome);
  const target = op.kind === "uninstall" ? null : op.version;
  if (legal !== undefined && version !== legal)
    problems.push(`state ${version} after ${op.kind} (${mode}), expected ${legal}`);
  if (legal === undefined && version !== before.version && version !== target)
    problems.push(`state ${version} is neither the old ${before.version} nor the target ${target}`);
  if (version !== before.version && events.length === before.events)
    problems.push(`I4 state changed ${before.version} -> ${version} without a history event`);
  return { problems, resolutions, after: { version, events: events.length, interrupted } };
}
