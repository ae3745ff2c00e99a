import fs from "node:fs";
import net from "node:net";
import { describe, expect, it } from "@jest/globals";
import { ErrorCodes } from "@attune/pack-storage";
import path from "node:path";
import { writePack } from "./helpers/fixtures";
import { makeHarness, providers } from "./helpers/harness";

const PROVIDERS = await providers();

describe.each(PROVIDERS)("Installer.ready [%s]", (provider) => {
  it("resolves on a working store, and names the packs directory once it is gone, not a directory, or emptied", async () => {
    const h = await makeHarness(provider);
    try {
      const installer = await h.open();
      await expect(installer.ready()).resolves.toBeUndefined();
      fs.renameSync(h.packsDir, `${h.packsDir}.away`);
      await expect(installer.ready()).rejects.toMatchObject({ code: ErrorCodes.ENOENT, path: h.packsDir });
      fs.writeFileSync(h.packsDir, "not a directory");
      await expect(installer.ready()).rejects.toMatchObject({
        code: ErrorCodes.EIO,
        message: `the packs directory ${h.packsDir} is not a directory`,
      });
      fs.rmSync(h.packsDir);
      // emptied or recreated under the process: the installed packs' files are gone with the store
      fs.mkdirSync(h.packsDir);
      await expect(installer.ready()).rejects.toMatchObject({
        code: ErrorCodes.EIO,
        message: `the packs directory ${h.packsDir} has lost its store (.store-v1): it was emptied or replaced`,
        hint: expect.stringContaining("restore the whole packs directory from a backup"),
      });
      fs.rmdirSync(h.packsDir);
      fs.renameSync(`${h.packsDir}.away`, h.packsDir);
      await expect(installer.ready()).resolves.toBeUndefined();
    } finally {
      await h.cleanup();
    }
  });
});

describe("Installer.ready [sqlite]", () => {
  it("rejects with EDATABASE once the database file is deleted under the process", async () => {
    const h = await makeHarness("sqlite");
    try {
      const installer = await h.open();
      await installer.ready();
      const db = `${h.home}/attune.db`;
      for (const f of [db, `${db}-wal`, `${db}-shm`]) fs.rmSync(f, { force: true });
      await expect(installer.ready()).rejects.toMatchObject({
        code: ErrorCodes.EDATABASE,
        message: expect.stringContaining(`${db} was deleted while this process had it open`),
      });
    } finally {
      await h.cleanup();
    }
  });
});

if (PROVIDERS.includes("postgresql")) {
  describe("Installer.ready [postgresql]", () => {
    it("rejects with ETIMEOUT when the server stops answering, instead of hanging", async () => {
      const h = await makeHarness("postgresql");
      // a TCP relay to the real server that can be frozen: connections stay open, bytes stop flowing
      const target = new URL(h.databaseUrl!);
      let frozen = false;
      const sockets: net.Socket[] = [];
      const relay = net.createServer((client) => {
        const upstream = net.connect(Number(target.port || 5432), target.hostname);
        sockets.push(client, upstream);
        client.on("data", (b) => void (frozen || upstream.write(b)));
        upstream.on("data", (b) => void (frozen || client.write(b)));
        client.on("error", () => undefined);
        upstream.on("error", () => undefined);
        client.on("close", () => upstream.destroy());
        upstream.on("close", () => client.destroy());
      });
      await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
      const port = (relay.address() as net.AddressInfo).port;
      const viaRelay = new URL(h.databaseUrl!);
      viaRelay.hostname = "127.0.0.1";
      viaRelay.port = String(port);
      try {
        const installer = await h.open({ databaseUrl: viaRelay.toString() });
        await installer.ready(); // works through the relay
        frozen = true;
        const started = Date.now();
        await expect(installer.ready(300)).rejects.toMatchObject({
          code: ErrorCodes.ETIMEOUT,
          message: "the database did not answer within 300 ms",
        });
        expect(Date.now() - started).toBeLessThan(5_000);
      } finally {
        for (const s of sockets) s.destroy();
        await new Promise((resolve) => relay.close(resolve));
        await h.cleanup();
      }
    });
  });
}

describe.each(PROVIDERS)(
  "a packs directory that does not exist while packs are recorded [%s]",
  (provider) => {
    it("is refused (a mistyped --packs-dir) and nothing is created; an empty store opens as before", async () => {
      const h = await makeHarness(provider);
      try {
        const elsewhere = path.join(h.root, "typo", "packs");
        await (await h.open({ packsDir: elsewhere })).close(); // no pack recorded: a new packs dir is fine
        fs.rmSync(path.join(h.root, "typo"), { recursive: true });
        const installer = await h.open();
        const dir = writePack(path.join(h.root, "src", "core"), { ref: "core", version: "1.0.0" });
        await installer.install({ source: dir, method: "cli" }, { identityId: null, name: "tester" });
        await expect(h.open({ packsDir: elsewhere })).rejects.toMatchObject({
          code: "ECONFIG",
          message: `the packs directory ${elsewhere} does not exist, yet the database records 1 installed pack in it`,
          hint: expect.stringContaining("check --packs-dir, ATTUNE_PACKS_DIR or packs_dir"),
        });
        expect(fs.existsSync(path.join(h.root, "typo"))).toBe(false);
        // the operator's way on: create it, and verify reports the missing files
        fs.mkdirSync(elsewhere, { recursive: true });
        const reopened = await h.open({ packsDir: elsewhere });
        expect((await reopened.verify("core")).ok).toBe(false);
      } finally {
        await h.cleanup();
      }
    });
  },
);
