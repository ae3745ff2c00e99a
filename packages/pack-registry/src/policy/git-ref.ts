import { AttuneError, ErrorCodes } from "@attune/pack-storage";

/** The longest git ref accepted, in characters (the API's `ref_spec` has no cap of its own). */
export const GIT_REF_MAX_LENGTH = 255;

/**
 * A git ref handed to a remote must not be mistaken for an option (`-...`) nor smuggle
 * revision syntax or control characters (git check-ref-format rules plus a few more).
 * Checked before any network traffic.
 */
export function validateGitRef(ref: string, field = "ref"): string {
  const fail = (why: string) =>
    new AttuneError(
      ErrorCodes.EINVALID_INPUT,
      `${field}: git ref ${JSON.stringify(ref)} is refused: ${why}`,
      {
        details: { field },
        hint: "give a tag, a branch name or a 40-hex commit SHA",
      },
    );
  if (ref.length === 0) throw fail("it is empty");
  if (ref.length > GIT_REF_MAX_LENGTH) throw fail(`it is longer than ${GIT_REF_MAX_LENGTH} characters`);
  if (ref.startsWith("-")) throw fail("it starts with '-'");
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(ref)) throw fail("it holds control characters");
  if (ref.includes("..")) throw fail("it holds '..'");
  if (/[ ~^:?*[\\]/.test(ref)) throw fail("it holds one of: space ~ ^ : ? * [ \\");
  if (ref === "@") throw fail("'@' alone is git's name for HEAD, not a ref");
  if (ref.includes("@{")) throw fail("it holds '@{'");
  if (ref.endsWith(".lock") || ref.endsWith(".") || ref.endsWith("/"))
    throw fail("it ends with '.lock', '.' or '/'");
  if (ref.startsWith("/") || ref.includes("//") || ref.split("/").some((c) => c.startsWith("."))) {
    throw fail("it has an empty component or one starting with '.'");
  }
  return ref;
}

/** A full commit SHA (abbreviated SHAs are not accepted: they can collide with branch names). */
export function isCommitSha(ref: string): boolean {
  return /^[0-9a-f]{40}$/i.test(ref);
}
