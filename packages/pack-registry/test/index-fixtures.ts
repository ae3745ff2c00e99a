export const H = "a".repeat(64);

/** A valid index entry (DESIGN.md §6 example) with overrides. */
export function entry(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ref: "example",
    label: "Example",
    description: "d",
    version: "1.0.0",
    author: "A",
    license: "MIT",
    keywords: [],
    runtime_deps: [],
    install_sources: [
      { type: "git", url: "https://git.example.com/example.git", ref: "v1.0.0", checksum: `sha256:${H}` },
      {
        type: "archive",
        url: "https://example.com/example-1.0.0.tar.gz",
        checksum: `sha256:${H.toUpperCase()}`,
      },
    ],
    contents: { actions: [], sensors: [], triggers: [], rules: [], workflows: [] },
    ...over,
  };
}
