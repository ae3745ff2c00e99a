import { defineConfig } from "tsup";

export default defineConfig({
  // suggest: its own entry, so the CLI's start-up chunk can take "did you mean" without loading
  // the whole package (~25 ms) on every command
  entry: ["src/index.ts", "src/suggest.ts"],
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "node20",
  splitting: false,
});
