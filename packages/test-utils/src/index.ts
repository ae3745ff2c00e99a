export * from "./git-server";
export * from "./git-fixture";
export * from "./http-server";
export * from "./tmp";
export * from "./postgres";
export * from "./tcp";
export * from "./env";
