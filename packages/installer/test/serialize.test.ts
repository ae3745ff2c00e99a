import { describe, expect, it } from "@jest/globals";
import { toEventJson, toInstallationJson, toPackJson } from "../src/serialize";

const t0 = new Date("2026-01-02T03:04:05.000Z");
const t1 = new Date("2026-01-02T03:04:06.500Z");

describe("serialisers", () => {
  it("emit the snake_case pack JSON with every contract field, in order", () => {
    const json = toPackJson({
      id: 7,
      ref: "core",
      label: "Core",
      description: null,
      version: "1.2.3",
      tags: ["a"],
      confSchema: { type: "object" },
      meta: { author: "A" },
      runtimeDeps: ["python3"],
      dependencies: ["base@^1.0.0"],
      createdAt: t0,
      updatedAt: t1,
    });
    expect(Object.keys(json)).toEqual([
      "id",
      "ref",
      "label",
      "description",
      "version",
      "tags",
      "conf_schema",
      "meta",
      "runtime_deps",
      "dependencies",
      "created",
      "updated",
    ]);
    expect(json).toMatchObject({
      conf_schema: { type: "object" },
      runtime_deps: ["python3"],
      created: t0.toISOString(),
      updated: t1.toISOString(),
    });
  });

  it("emit installation JSON with ISO timestamps and null for absent values", () => {
    const json = toInstallationJson({
      id: 1,
      packId: 7,
      sourceType: "git",
      sourceUrl: "https://example.com/x.git",
      sourceRef: "v1",
      resolvedCommit: null,
      checksum: "sha256:" + "a".repeat(64),
      checksumVerified: true,
      installedAt: t0,
      installedBy: null,
      installationMethod: "cli",
      storagePath: "/p/core-1.2.3",
      meta: { force: false },
      createdAt: t0,
      updatedAt: t1,
    });
    expect(Object.keys(json)).toEqual([
      "id",
      "pack_id",
      "source_type",
      "source_url",
      "source_ref",
      "resolved_commit",
      "checksum",
      "checksum_verified",
      "installed_at",
      "installed_by",
      "installation_method",
      "storage_path",
      "meta",
      "created",
      "updated",
    ]);
    expect(json.resolved_commit).toBeNull();
    expect(json.installed_at).toBe("2026-01-02T03:04:05.000Z");
    expect(json).not.toHaveProperty("fileManifest");
  });

  it("emit event JSON and never share mutable objects with the row", () => {
    const details = { a: 1 };
    const json = toEventJson({
      id: 3,
      packRef: "core",
      version: "1.0.0",
      action: "failed",
      outcome: "failure",
      sourceType: null,
      sourceUrl: null,
      actorId: 2,
      actorName: "ci",
      method: "api",
      error: "EINTEGRITY: x",
      details,
      createdAt: t0,
    });
    expect(json).toMatchObject({
      pack_ref: "core",
      actor_name: "ci",
      error: "EINTEGRITY: x",
      created: t0.toISOString(),
    });
    json.details.a = 2;
    expect(details.a).toBe(1);
  });
});
