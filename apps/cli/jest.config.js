/** @type {import('jest').Config} */
export default {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  extensionsToTreatAsEsm: [".ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { useESM: true }] },
  // Tests run the real CLI several times per case (each local-mode run loads Prisma: ~1 s CPU);
  // a loaded 2-core machine needs more than the default 60 s for the longer cases.
  testTimeout: 240000,
  passWithNoTests: true,
};
