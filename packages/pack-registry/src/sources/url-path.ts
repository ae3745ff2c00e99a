import { AttuneError, ErrorCodes, redactUrl } from "@attune/pack-storage";

/** A URL's path with its percent-escapes decoded; EINVALID_INPUT naming `source` when one is malformed. */
export function decodedPath(u: URL): string {
  try {
    return decodeURIComponent(u.pathname);
  } catch (cause) {
    throw new AttuneError(
      ErrorCodes.EINVALID_INPUT,
      `source: the path of "${redactUrl(u.href)}" holds malformed percent-encoding`,
      {
        cause,
        details: { field: "source" },
        hint: "escape a literal % as %25, and use whole UTF-8 sequences (%C3%A9)",
      },
    );
  }
}
