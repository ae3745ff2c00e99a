import http from "node:http";
import { listen, type TestServer } from "./git-server";

export type Route = (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>;

export interface RouteServer extends TestServer {
  /** add or replace the handler of an exact path */
  route(path: string, handler: Route): void;
  /** serve fixed bytes at a path */
  file(path: string, body: Buffer | string, contentType?: string): void;
  /** paths requested so far, in order (with the request headers) */
  requests: Array<{ path: string; headers: http.IncomingHttpHeaders }>;
}

/** A real HTTP server on 127.0.0.1 with per-path handlers; unknown paths get 404. */
export async function serveRoutes(): Promise<RouteServer> {
  const routes = new Map<string, Route>();
  const requests: RouteServer["requests"] = [];
  const server = http.createServer((req, res) => {
    const p = new URL(req.url ?? "/", "http://127.0.0.1").pathname;
    requests.push({ path: p, headers: req.headers });
    const h = routes.get(p);
    if (!h) {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found");
      return;
    }
    Promise.resolve(h(req, res)).catch((e) => {
      res.statusCode = 500;
      res.end(String(e));
    });
  });
  const base = await listen(server);
  return {
    ...base,
    requests,
    route: (p, h) => void routes.set(p, h),
    file: (p, body, contentType = "application/octet-stream") =>
      void routes.set(p, (_req, res) => {
        const buf = Buffer.isBuffer(body) ? body : Buffer.from(body);
        res.writeHead(200, { "content-type": contentType, "content-length": buf.length });
        res.end(buf);
      }),
  };
}
