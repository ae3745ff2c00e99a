// Runs one installer operation in a separate process (crash and multi-process tests).
// argv[2]: JSON {options, op: "install"|"uninstall"|"reconcile", request?, ref?}
// Prints one JSON line: {ok:true, result} or {ok:false, code, message}.
import { openInstaller } from "../../dist/index.js";

const job = JSON.parse(process.argv[2]);
const actor = { identityId: job.actorId ?? null, name: job.actor ?? "child", tokenId: job.tokenId ?? null };
let installer;
try {
  installer = await openInstaller(job.options);
  let result;
  if (job.op === "install") result = await installer.install(job.request, actor);
  else if (job.op === "uninstall") result = await installer.uninstall(job.ref, { actor, method: "cli" });
  else result = installer.lastReconcile;
  process.stdout.write(JSON.stringify({ ok: true, result }) + "\n");
} catch (e) {
  process.stdout.write(
    JSON.stringify({ ok: false, code: e.code ?? null, message: String(e.message) }) + "\n",
  );
} finally {
  await installer?.close();
}
