import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { EmbeddedPostgres } from './embedded-postgres';

/**
 * Where the database is: DATABASE_URL, or an embedded PGlite started here
 * (and stopped on shutdown) when that is unset.
 */
@Injectable()
export class DatabaseEndpoint implements OnApplicationShutdown {
  private readonly logger = new Logger('Database');
  private constructor(
    readonly url: string,
    readonly embedded: EmbeddedPostgres | null,
  ) {}

  static async resolve(config: AppConfig): Promise<DatabaseEndpoint> {
    if (config.databaseUrl) return new DatabaseEndpoint(config.databaseUrl, null);
    const embedded = await EmbeddedPostgres.start(config.dataDir);
    new Logger('Database').log(`Embedded PostgreSQL (PGlite) serving ${config.dataDir}/pg on ${embedded.url}`);
    return new DatabaseEndpoint(embedded.url, embedded);
  }

  get isEmbedded(): boolean {
    return this.embedded !== null;
  }

  async onApplicationShutdown(): Promise<void> {
    if (!this.embedded) return;
    try {
      await this.embedded.stop();
    } catch (error) {
      this.logger.warn(`Embedded PostgreSQL did not stop cleanly: ${(error as Error).message}`);
    }
  }
}
