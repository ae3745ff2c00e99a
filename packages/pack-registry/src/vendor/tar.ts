// node-tar's parser, bundled by tsup into dist/tar.cjs (see parsers.ts for why one file).
export { Parser } from "tar";
