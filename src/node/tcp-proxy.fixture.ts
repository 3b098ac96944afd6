/**
 * A TCP proxy on 127.0.0.1 to a test server (PostgreSQL, Redis) that a test
 * can cut, as a crash or a network failure would, and restore on the same
 * port: how the adapters' "server went away and came back" tests run
 * against the real servers.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

/** A proxy a test controls. */
export interface TcpProxy {
  /** The port it listens on. */
  readonly port: number;
  /** Closes every connection and stops listening. */
  cut(): Promise<void>;
  /** Listens again on the same port. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

/** Listens on `port` (0: any free one) of 127.0.0.1 and returns the port. */
async function listen(server: Server, port: number): Promise<number> {
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : 0;
}

/** Starts a proxy to `host`:`port`. */
export async function startTcpProxy(host: string, port: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const track = (socket: Socket): Socket => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    return socket;
  };
  const forward = (client: Socket): void => {
    const upstream = track(connect(port, host));
    track(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream).pipe(client);
  };
  let server = createServer(forward);
  const own = await listen(server, 0);
  const cut = async (): Promise<void> => {
    const closed = new Promise((resolve) => server.close(resolve));
    for (const s of sockets) s.destroy();
    await closed;
  };
  return {
    port: own,
    cut,
    restore: async () => {
      server = createServer(forward);
      await listen(server, own);
    },
    close: () => (server.listening ? cut() : Promise.resolve()),
  };
}
