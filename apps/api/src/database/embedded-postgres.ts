import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { mkdirSync } from 'node:fs';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';

/**
 * PGlite (PostgreSQL in WASM) persisted under DATA_DIR/pg and served on a
 * loopback port, so the api uses the same `pg` driver, dialect and migrations
 * as with a real server. PGlite is one database session: callers must use a
 * pool of exactly one connection (see DatabaseModule).
 */
export class EmbeddedPostgres {
  private constructor(
    private readonly db: PGlite,
    private readonly server: PGLiteSocketServer,
    readonly url: string,
  ) {}

  static async start(dataDir: string): Promise<EmbeddedPostgres> {
    const dir = join(dataDir, 'pg');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const db = await PGlite.create(dir);
    const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0 });
    await server.start();
    const address = (server as unknown as { server: { address(): AddressInfo } }).server.address();
    return new EmbeddedPostgres(db, server, `postgres://postgres@127.0.0.1:${address.port}/postgres`);
  }

  async stop(): Promise<void> {
    await this.server.stop();
    await this.db.close();
  }
}
