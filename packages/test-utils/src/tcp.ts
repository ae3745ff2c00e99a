// TCP peers that misbehave, for tests of what a client does when a server stops answering.
import net from "node:net";

/** A TCP server that accepts connections and never sends a byte. */
export async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on("error", () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        sockets.forEach((s) => s.destroy());
        server.close(() => r());
      }),
  };
}

/**
 * A TCP proxy on 127.0.0.1 to `target` (its port, 5432 when it names none): `wire` joins each
 * client's socket to its upstream one; `close()` ends every connection and the server.
 */
async function proxy(
  target: URL,
  wire: (client: net.Socket, upstream: net.Socket) => void,
): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => undefined);
    }
    wire(client, upstream);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        sockets.forEach((s) => s.destroy());
        server.close(() => r());
      }),
  };
}

/**
 * A TCP proxy to the real server that can be frozen: from then on it forwards nothing either way
 * (the connections stay open), as a server that stopped answering mid-session.
 */
export async function freezableProxy(
  target: URL,
): Promise<{ port: number; freeze(): void; close(): Promise<void> }> {
  let frozen = false;
  const p = await proxy(target, (client, upstream) => {
    client.on("data", (d) => void (frozen || upstream.write(d)));
    upstream.on("data", (d) => void (frozen || client.write(d)));
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  return { ...p, freeze: () => void (frozen = true) };
}

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
  const p = await proxy(target, (client, upstream) => {
    const deliver = (fn: () => void) => (held ? queue.push(fn) : fn());
    client.on("data", (d) => upstream.write(d));
    upstream.on("data", (d) => deliver(() => client.write(d)));
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => {
      if (held) closedOnce();
      deliver(() => client.end());
    });
  });
  return {
    via(url) {
      const u = new URL(url);
      u.host = `127.0.0.1:${p.port}`;
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
    close: p.close,
  };
}
