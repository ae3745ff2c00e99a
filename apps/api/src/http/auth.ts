import type { RequestHandler, Response } from "express";
import type { Principal, Scope, TokenVerifier } from "../types";
import { HttpProblem } from "./problem";

const CHALLENGE = { "WWW-Authenticate": 'Bearer realm="attune"' };
// token68 syntax (RFC 7235): anything else is not a bearer credential we could have issued.
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

function unauthorized(detail: string, error?: "invalid_token"): HttpProblem {
  const header = error ? `${CHALLENGE["WWW-Authenticate"]}, error="${error}"` : CHALLENGE["WWW-Authenticate"];
  return new HttpProblem(401, "EUNAUTHORIZED", detail, {
    headers: { "WWW-Authenticate": header },
    hint: "send Authorization: Bearer <token>; create a token with `attune token create`",
  });
}

/**
 * Authenticate every request with a bearer token. The secret is only handed to the verifier
 * (which compares hashes); it is never logged: the logger redacts the header.
 */
export function authenticate(verify: TokenVerifier): RequestHandler {
  return async (req, res, next) => {
    // Node keeps the first of repeated Authorization headers: two credentials are ambiguous (RFC
    // 6750 invalid_request), refused rather than one of them picked
    if (authorizationHeaders(req.rawHeaders) > 1)
      return next(
        new HttpProblem(400, "EINVALID_INPUT", "the Authorization header is given more than once", {
          errors: [{ field: "Authorization", message: "given more than once; give it once" }],
          hint: "send one Authorization: Bearer <token> header",
          headers: { "WWW-Authenticate": `${CHALLENGE["WWW-Authenticate"]}, error="invalid_request"` },
        }),
      );
    const header = req.headers.authorization;
    if (!header) return next(unauthorized("authentication required: no Authorization header"));
    const match = BEARER.exec(header);
    if (!match) return next(unauthorized("the Authorization header is not a Bearer token", "invalid_token"));
    const principal = await verify(match[1]);
    if (!principal) return next(unauthorized("the token is unknown, revoked or expired", "invalid_token"));
    res.locals.principal = principal;
    next();
  };
}

/** How many Authorization headers a request carries (rawHeaders: name, value, name, value, …). */
function authorizationHeaders(raw: string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i].toLowerCase() === "authorization") n++;
  return n;
}

export function requireScope(scope: Scope): RequestHandler {
  return (_req, res, next) => {
    const scopes = principalOf(res)?.scopes ?? [];
    if (scopes.includes(scope)) return next();
    next(
      new HttpProblem(403, "EFORBIDDEN", `this token lacks the scope ${scope}`, {
        hint: `create a token with --scopes ${scope}`,
        headers: {
          "WWW-Authenticate": `${CHALLENGE["WWW-Authenticate"]}, error="insufficient_scope", scope="${scope}"`,
        },
      }),
    );
  };
}

export function principalOf(res: Response): Principal | undefined {
  return res.locals.principal as Principal | undefined;
}

/**
 * `installed_by` and the event's actor come from the token, never from the request body; the
 * token's id too, since tokens of one name share an identity (the history tells them apart).
 */
export function actorOf(res: Response): {
  identityId: number | null;
  name: string | null;
  tokenId: number | null;
} {
  const p = principalOf(res);
  return {
    identityId: p?.identityId ?? null,
    name: p?.name ?? null,
    tokenId: typeof p?.tokenId === "number" ? p.tokenId : null,
  };
}
