import { checkVersionSpec, classifySource, parsePackSpec } from "@attune/pack-registry";
import { isAttuneError } from "@attune/pack-storage";
import { HttpProblem } from "../http/problem";

export const REF_SPEC_VERSION_HINT =
  "for a registry source, ref_spec takes a registry version: 1.2.3, latest or a range such as ^1.2";

/**
 * An install error in the request's terms. The libraries check a registry version given apart
 * from the source as they check one written into it (`ref@version`), so their refusal of a bad
 * ref_spec for a registry source carried the hint of the source's syntax ("use ref, ref@1.2.3, …").
 * When the installer refused ref_spec and ref_spec is indeed no registry version for what is a
 * registry source without its own @version, the refusal names ref_spec and says what it takes.
 * Everything else (git refs, with their own message and hint) passes through unchanged.
 */
export function inRequestTerms(err: unknown, body: { source: string; ref_spec?: string }): unknown {
  if (!isAttuneError(err) || err.code !== "EINVALID_INPUT" || err.details?.field !== "refSpec") return err;
  if (body.ref_spec === undefined || !isBareRegistryRef(body.source)) return err;
  try {
    checkVersionSpec(body.ref_spec, "ref_spec");
    return err; // a valid version: the installer refused it for another reason
  } catch (versionErr) {
    if (!isAttuneError(versionErr)) return err;
    return new HttpProblem(400, "EINVALID_INPUT", versionErr.message, {
      hint: REF_SPEC_VERSION_HINT,
      errors: [{ field: "ref_spec", message: versionErr.message }],
    });
  }
}

/** `demo`, not `demo@1.2` (which is refused for giving the version twice) nor a URL or a path. */
function isBareRegistryRef(source: string): boolean {
  try {
    // no local source roots given: classification stays syntactic (the disk is never looked at)
    if (classifySource({ source }, []) !== "registry") return false;
    return parsePackSpec(source.trim()).versionSpec === undefined;
  } catch {
    return false;
  }
}
