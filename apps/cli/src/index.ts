export { main, buildParser } from "./main";
export { renderError, exitCodeFor, ExitCode, CliError } from "./errors";
export type { CommandResult, OutputFormat } from "./output";
