import { fileURLToPath } from "node:url";
import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts", "src/bin.ts"],
  format: ["esm"],
  dts: { entry: "src/index.ts" },
  sourcemap: true,
  clean: true,
  target: "node20",
  // Each command's handler is a separate chunk, loaded only when that command runs.
  splitting: true,
  // minified, the start-up chunk (yargs included) parses ~7 ms faster: `pack checksum` of the
  // `small` corpus 117 -> 110 ms whole-process, against a 120 ms target (source maps stay)
  minify: true,
  // yargs and its helpers are bundled into the start-up chunk: resolving and loading ~40 small
  // files cost more than parsing one. string-width is swapped for a small ASCII-level version
  // (src/vendor/string-width.ts) because its Unicode tables dominated `--help` start-up, and
  // yargs' `assert` for two strict-equality checks (src/vendor/assert.ts), to skip loading Node's.
  noExternal: [/^yargs/, "cliui", "y18n", "escalade", "get-caller-file", /^strip-ansi|^ansi-|^wrap-ansi/],
  esbuildOptions(options) {
    options.alias = {
      "string-width": fileURLToPath(new URL("./src/vendor/string-width.ts", import.meta.url)),
      assert: fileURLToPath(new URL("./src/vendor/assert.ts", import.meta.url)),
    };
  },
});
