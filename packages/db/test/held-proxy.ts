import net from "node:net";

/**
 * A TCP proxy to the PostgreSQL server whose server-to-client direction can be held: while held,
 * what the server sends (and its closing of the connection) is kept back, and `resume()` delivers
 * it all. So a test can have the server end a session (pg_terminate_backend) and the client send
 * a statement before it hears of it, as happens when the two cross on the wire.
 */
export async function heldProxy(target: URL): Promise<{
  /** `url` with its host and port replaced by the proxy's */
  via(url: string): string;
  hold(): void;
  resume(): void;
  /** resolves once the server closes a connection while held (since the last `hold()`) */
  serverClosed(): Promise<void>;
  close(): Promise<void>;
}> {
  let held = false;
  const queue: Array<() => void> = [];
  let closedOnce: () => void = () => undefined;
  let closed = Promise.resolve();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => undefined);
    }
    const deliver = (fn: () => void) => (held ? queue.push(fn) : fn());
    client.on("data", (d) => upstream.write(d));
    upstream.on("data", (d) => deliver(() => client.write(d)));
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => {
      if (held) closedOnce();
      deliver(() => client.end());
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    via(url) {
      const u = new URL(url);
      u.host = `127.0.0.1:${port}`;
      return u.toString();
    },
    hold() {
      held = true;
      closed = new Promise<void>((resolve) => (closedOnce = resolve));
    },
    resume() {
      held = false;
      queue.splice(0).forEach((fn) => fn());
    },
    serverClosed: () => closed,
    close: () =>
      new Promise<void>((r) => {
        sockets.forEach((s) => s.destroy());
        server.close(() => r());
      }),
  };
}
