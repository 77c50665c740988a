import { BoundedClient } from './bounded-client';

const RECONNECT_MS = 1_000;
/** How often the connection checks that the server still answers. */
const WATCH_MS = 5_000;

export interface PgListenerHandlers {
  notification(payload: string | undefined): void;
  /** LISTEN is in place, the first time or after a reconnect: anything NOTIFYed before may be lost. */
  listening(): void;
  /** The connection is gone; it reconnects by itself every RECONNECT_MS until stopped. */
  lost(why: string): void;
}

/**
 * A dedicated connection that LISTENs on one channel until stopped, reconnecting whenever it is
 * lost. It is watched: a connection gone silent (partition, hung server) hears nothing and never
 * learns why, so it is dropped and replaced like a closed one.
 */
export class PgListener {
  private client: BoundedClient | null = null;
  private stopped = false;

  constructor(
    private readonly url: string,
    private readonly channel: string,
    private readonly handlers: PgListenerHandlers,
    /** Shown in pg_stat_activity, so the connection can be found. */
    private readonly applicationName?: string,
  ) {}

  async start(): Promise<void> {
    if (this.stopped) return;
    const client = new BoundedClient({
      connectionString: this.url,
      ...(this.applicationName ? { application_name: this.applicationName } : {}),
    });
    client.on('error', (error) => this.lose(client, error.message));
    client.on('end', () => this.lose(client, 'connection closed'));
    client.on('notification', (message) => this.handlers.notification(message.payload));
    this.client = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
    } catch (error) {
      this.lose(client, (error as Error).message);
      return;
    }
    if (this.client !== client) return;
    client.watch(WATCH_MS);
    this.handlers.listening();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.client?.end().catch(() => undefined);
  }

  private lose(client: BoundedClient, why: string): void {
    if (this.client !== client || this.stopped) return;
    this.client = null;
    this.handlers.lost(why);
    void client.end().catch(() => undefined);
    setTimeout(() => void this.start(), RECONNECT_MS).unref();
  }
}
