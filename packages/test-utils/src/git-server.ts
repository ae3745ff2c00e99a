import { spawn } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface TestServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** A git server also tells which requests it saw, with their headers. */
export interface GitTestServer extends TestServer {
  requests: Array<{ method: string; path: string; headers: http.IncomingHttpHeaders }>;
}

/**
 * Serve every bare repository under `projectRoot` with the real `git http-backend` (as CGI) on 127.0.0.1.
 * Clone URL: `${url}/<repo>.git`. `dieAfterBytes` cuts the connection mid-response (a server that dies mid-clone).
 */
export async function serveGit(
  projectRoot: string,
  opts: { dieAfterBytes?: number } = {},
): Promise<GitTestServer> {
  const requests: GitTestServer["requests"] = [];
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://127.0.0.1");
    requests.push({ method: req.method ?? "GET", path: u.pathname, headers: req.headers });
    const cgi = spawn("git", ["http-backend"], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: projectRoot,
        GIT_HTTP_EXPORT_ALL: "1",
        REQUEST_METHOD: req.method ?? "GET",
        PATH_INFO: decodeURIComponent(u.pathname),
        QUERY_STRING: u.search.slice(1),
        CONTENT_TYPE: req.headers["content-type"] ?? "",
        CONTENT_LENGTH: req.headers["content-length"] ?? "",
        HTTP_CONTENT_ENCODING: String(req.headers["content-encoding"] ?? ""),
        GIT_PROTOCOL: String(req.headers["git-protocol"] ?? ""),
        REMOTE_ADDR: "127.0.0.1",
      },
    });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let done = false;
    let sent = 0;
    const write = (chunk: Buffer) => {
      if (opts.dieAfterBytes !== undefined && u.pathname.endsWith("git-upload-pack")) {
        if (sent + chunk.length > opts.dieAfterBytes) {
          res.write(chunk.subarray(0, Math.max(0, opts.dieAfterBytes - sent)));
          res.socket?.destroy();
          cgi.kill();
          return;
        }
      }
      sent += chunk.length;
      res.write(chunk);
    };
    cgi.stdout.on("data", (chunk: Buffer) => {
      if (done) return write(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      done = true;
      let status = 200;
      for (const line of head.subarray(0, end).toString("latin1").split("\r\n")) {
        const i = line.indexOf(":");
        const name = line.slice(0, i).trim();
        const value = line.slice(i + 1).trim();
        if (name.toLowerCase() === "status") status = parseInt(value, 10);
        else res.setHeader(name, value);
      }
      res.writeHead(status);
      write(head.subarray(end + 4));
    });
    cgi.stdout.on("end", () => res.end());
    cgi.stderr.resume();
    cgi.on("error", (e) => {
      res.statusCode = 500;
      res.end(String(e));
    });
  });
  return { ...(await listen(server)), requests };
}

export async function listen(server: http.Server): Promise<TestServer> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections?.();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}
