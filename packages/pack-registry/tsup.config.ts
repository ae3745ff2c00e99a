import { defineConfig } from "tsup";

export default defineConfig([
  {
    entry: ["src/index.ts"],
    format: ["esm"],
    dts: true,
    sourcemap: true,
    clean: false, // the build script empties dist/ first: the two builds below run side by side
    target: "node20",
    splitting: false,
  },
  {
    // yaml and zod/mini, node-tar, semver: each in one CommonJS file, required on first use
    // (src/vendor/*.ts, src/lazy.ts)
    entry: { parsers: "src/vendor/parsers.ts", tar: "src/vendor/tar.ts", semver: "src/vendor/semver.ts" },
    format: ["cjs"],
    outExtension: () => ({ js: ".cjs" }),
    noExternal: [/.*/],
    // bundle their ES module builds, so the parts of zod that are not used are left out
    esbuildOptions(options) {
      options.conditions = ["import", "module", "default"];
      options.mainFields = ["module", "main"];
    },
    minify: true,
    dts: false,
    sourcemap: false,
    clean: false,
    target: "node20",
    splitting: false,
  },
]);
