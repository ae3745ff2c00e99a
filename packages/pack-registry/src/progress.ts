/**
 * Files between two progress reports of a copy or an extraction (plus one after the first file and
 * one at the end). A report per file cost ~25 ms of a 20,000-file install: each passes through
 * three callbacks, each spreading a new object, on its way to the CLI or the API.
 */
export const PROGRESS_EVERY_FILES = 64;
