// The parsers every install needs, built by tsup into ONE CommonJS file next to the package's
// index (dist/parsers.cjs, yaml and zod/mini bundled in, only the parts used): loading yaml and zod
// from their installed files cost ~100 ms of an install's start-up, most of it resolving, reading
// and compiling a few hundred small CommonJS files (docs/benchmarks.md). Loaded on first use by
// lazy.ts, which falls back to the installed modules when running from source.
import { isMap, isScalar, isSeq, parse, parseAllDocuments, parseDocument, stringify } from "yaml";
import {
  _default,
  array,
  boolean,
  config,
  discriminatedUnion,
  int,
  looseObject,
  maxLength,
  maximum,
  minimum,
  minLength,
  object,
  literal,
  optional,
  pipe,
  record,
  refine,
  regex,
  strictObject,
  string,
  transform,
  union,
  unknown,
} from "zod/mini";
import { en } from "zod/v4/locales";

// zod/mini ships no messages: without this every issue would read "Invalid input"
config(en());

/** The yaml functions used here. */
export const YAML = { isMap, isScalar, isSeq, parse, parseAllDocuments, parseDocument, stringify };
/** The zod/mini functions used here (the schemas of pack.yaml, config.yaml and registry indexes). */
export const zm = {
  _default,
  array,
  boolean,
  discriminatedUnion,
  int,
  literal,
  pipe,
  transform,
  union,
  looseObject,
  maxLength,
  maximum,
  minimum,
  minLength,
  object,
  optional,
  record,
  refine,
  regex,
  strictObject,
  string,
  unknown,
};
