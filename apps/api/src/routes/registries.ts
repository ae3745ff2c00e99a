import { Router } from "express";
import { redactUrl, redactUrlsIn } from "@attune/pack-storage";
import { requireScope } from "../http/auth";
import { methodNotAllowed } from "../http/error-handler";
import { scrubPaths } from "../http/problem";
import { parseOr400 } from "../http/validate";
import { EmptyQuery, SearchQuery } from "../schemas";
import { Scopes, type InstallerPort } from "../types";

export function registriesRouter(installer: InstallerPort, privatePaths: string[]): Router {
  const r = Router();
  const read = requireScope(Scopes.read);

  r.route("/registries")
    .get(read, (req, res) => {
      parseOr400(EmptyQuery, req.query, "query");
      // Registry headers may carry credentials for the index host: never echo them; nor a secret
      // query value of the index URL (`?token=`)
      const data = installer.registries
        .list()
        .map(({ name, url, priority, enabled }) => ({ name, url: redactUrl(url), priority, enabled }));
      res.json({ data });
    })
    .all(methodNotAllowed(["GET"]));

  r.route("/registries/search")
    .get(read, async (req, res) => {
      const { q, refresh } = parseOr400(SearchQuery, req.query, "query");
      const found = await installer.registries.searchDetailed(q, { refresh: refresh === "true" });
      // Say which registries answered from a stale copy or not at all, so a short result list
      // is not mistaken for "no such pack".
      const registries = found.registries.map((st) => ({
        name: st.registry,
        status: st.status,
        fetched_at: st.fetchedAt,
        age_seconds: st.ageSeconds,
        error: st.error
          ? {
              code: String(st.error.code),
              detail: redactUrlsIn(scrubPaths(st.error.message, privatePaths)),
              hint: st.error.hint ? redactUrlsIn(scrubPaths(st.error.hint, privatePaths)) : null,
            }
          : null,
      }));
      res.json({ data: found.results, registries });
    })
    .all(methodNotAllowed(["GET"]));

  return r;
}
