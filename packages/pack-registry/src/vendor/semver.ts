// The semver functions used here, bundled by tsup into dist/semver.cjs (see parsers.ts for why).
export { compareBuild, prerelease, satisfies, valid, validRange } from "semver";
