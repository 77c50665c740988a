import { createConnection, createServer, Server, Socket } from 'node:net';

/**
 * What a cut does:
 * - `reset`: live connections are closed, and each new one is accepted and reset at once (the
 *   client sees ECONNRESET), as when the server process is gone but its host answers;
 * - `stall`: live connections are closed, and each new one is accepted and then ignored (nothing is
 *   forwarded or answered), as behind a dead route; only the client's own timeouts end it;
 * - `silence`: a network partition. Live connections stay open but go silent: nothing the client
 *   sends arrives, nothing comes back, and no FIN or RST tells it so (the server side is closed, as
 *   a server does when it notices the client gone). New connections stall. After `restore` such a
 *   connection stays silent until the client sends something, which is then answered by a reset,
 *   as the server's host does for a connection it no longer knows.
 */
export type CutMode = 'reset' | 'stall' | 'silence';

interface Pair {
  client: Socket;
  upstream: Socket;
}

/**
 * A loopback TCP proxy a test owns, in front of a real server (PostgreSQL here),
 * so the test can take the server away from one client process and give it back
 * without touching the server itself, which other tests share.
 */
export class TcpProxy {
  private readonly pairs = new Set<Pair>();
  /** New connections held without an answer while stalled (or partitioned). */
  private readonly held = new Set<Socket>();
  /** Client sides of connections cut by a partition. */
  private readonly silenced = new Set<Socket>();
  private mode: CutMode | null = null;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  static start(target: { host: string; port: number }): Promise<TcpProxy> {
    return new Promise((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const proxy = new TcpProxy(server, (server.address() as { port: number }).port, target);
        server.on('connection', (socket) => proxy.accept(socket));
        resolve(proxy);
      });
    });
  }

  /** `url` (a postgres:// URL on the target) rewritten to go through this proxy. */
  via(url: string): string {
    const parsed = new URL(url);
    parsed.hostname = '127.0.0.1';
    parsed.port = String(this.port);
    return parsed.toString();
  }

  /** Connections cut by a partition that their client has not given up yet. */
  get silencedConnections(): number {
    return this.silenced.size;
  }

  cut(mode: CutMode): void {
    this.mode = mode;
    for (const pair of this.pairs) {
      if (mode === 'silence') this.silence(pair);
      else {
        pair.client.destroy();
        pair.upstream.destroy();
      }
    }
    this.pairs.clear();
  }

  /** Forwards new connections again; connections held while stalled are closed. */
  restore(): void {
    this.mode = null;
    for (const socket of this.held) socket.destroy();
    this.held.clear();
  }

  async close(): Promise<void> {
    this.cut('reset');
    this.restore();
    for (const socket of this.silenced) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private silence({ client, upstream }: Pair): void {
    client.unpipe(upstream);
    upstream.unpipe(client);
    for (const socket of [client, upstream]) {
      socket.removeAllListeners('close');
      socket.removeAllListeners('error');
      socket.on('error', () => undefined);
    }
    upstream.destroy();
    this.silenced.add(client);
    client.on('close', () => this.silenced.delete(client));
    client.on('data', () => {
      // During the partition what the client sends is lost; after it, the host answers with a reset.
      if (this.mode === null) client.resetAndDestroy();
    });
    client.resume();
  }

  private accept(client: Socket): void {
    client.on('error', () => undefined);
    if (this.mode === 'reset') {
      client.resetAndDestroy();
      return;
    }
    if (this.mode === 'stall' || this.mode === 'silence') {
      this.held.add(client);
      client.on('close', () => this.held.delete(client));
      // Read and drop whatever the client sends, so it never sees back-pressure either.
      client.resume();
      return;
    }
    const upstream = createConnection(this.target);
    const pair = { client, upstream };
    this.pairs.add(pair);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    const drop = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', drop);
    upstream.on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
