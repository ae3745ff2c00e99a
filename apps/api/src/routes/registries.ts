import { Router } from "express";
import { requireScope } from "../http/auth";
import { methodNotAllowed } from "../http/error-handler";
import { parseOr400 } from "../http/validate";
import { EmptyQuery, SearchQuery } from "../schemas";
import { Scopes, type InstallerPort } from "../types";

export function registriesRouter(installer: InstallerPort): Router {
  const r = Router();
  const read = requireScope(Scopes.read);

  r.route("/registries")
    .get(read, (req, res) => {
      parseOr400(EmptyQuery, req.query, "query");
      // Registry headers may carry credentials for the index host: never echo them.
      const data = installer.registries
        .list()
        .map(({ name, url, priority, enabled }) => ({ name, url, priority, enabled }));
      res.json({ data });
    })
    .all(methodNotAllowed(["GET"]));

  r.route("/registries/search")
    .get(read, async (req, res) => {
      const { q } = parseOr400(SearchQuery, req.query, "query");
      res.json({ data: await installer.registries.search(q) });
    })
    .all(methodNotAllowed(["GET"]));

  return r;
}
