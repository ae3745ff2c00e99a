// The semver functions used here, bundled by tsup into dist/semver.cjs (see parsers.ts for why).
export { compare, maxSatisfying, prerelease, rcompare, valid, validRange } from "semver";
