export { createServer, DEFAULT_BODY_LIMIT, type Lifecycle } from "./server";
export { startServer, type ListenOptions, type RunningServer } from "./listen";
export { buildOpenApiDocument } from "./openapi";
export { createLogger, REDACT_PATHS } from "./logger";
export { statusForCode, problemType, type Problem } from "./http/problem";
export {
  DEFAULT_TOKEN_CACHE_TTL_MS,
  tokenVerifierFromRepository,
  type TokenCacheOptions,
  type TokenRepositoryLike,
} from "./token-verifier";
export { readApiConfig, startupErrorLines, type ApiConfig, type EnvProblem } from "./config";
export * from "./types";
