export const placeholder = true;
export * from "./sources/types";
export * from "./config/types";
export * from "./config/config-file";
export * from "./policy/outbound-policy";
export * from "./registry-index/client";
export * from "./extract";
export * from "./manifest";
