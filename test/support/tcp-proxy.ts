import { createConnection, createServer, Server, Socket } from 'node:net';

/**
 * What happens to connections while the proxy is cut:
 * - `reset`: each new connection is accepted and reset at once (the client sees ECONNRESET),
 *   as when the server process is gone but the host answers;
 * - `stall`: each new connection is accepted and then ignored (nothing is ever forwarded or
 *   answered), as behind a dead route; only the client's own timeouts end it.
 */
export type CutMode = 'reset' | 'stall';

/**
 * A loopback TCP proxy a test owns, in front of a real server (PostgreSQL here),
 * so the test can take the server away from one client process and give it back
 * without touching the server itself, which other tests share.
 */
export class TcpProxy {
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>();
  private readonly held = new Set<Socket>();
  private mode: CutMode | null = null;
  /** Connections accepted since start, for tests that check clients came back. */
  accepted = 0;

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

  /** Connections currently forwarded. */
  get liveConnections(): number {
    return this.pairs.size;
  }

  /** Destroys every live connection (both sides) and treats new ones according to `mode` until `restore`. */
  cut(mode: CutMode): void {
    this.mode = mode;
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
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
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    this.accepted++;
    client.on('error', () => undefined);
    if (this.mode === 'reset') {
      client.resetAndDestroy();
      return;
    }
    if (this.mode === 'stall') {
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
