import { DataSourceOptions } from 'typeorm';
import { BoundedClient, CONNECT_TIMEOUT_MS } from './bounded-client';
import { MIGRATIONS } from './migrations';

/**
 * Options shared by the running api and the `migrate` command. Schema changes
 * only ever come from committed migrations; synchronize stays off.
 */
export function dataSourceOptions(url: string, embedded: boolean): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    migrations: MIGRATIONS,
    migrationsTransactionMode: 'each',
    synchronize: false,
    extra: {
      // Bounded connects and queries: a database that stops answering fails requests in seconds (503), never hangs them.
      Client: BoundedClient,
      // PGlite is a single session: a second connection would interleave transactions.
      max: embedded ? 1 : 10,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      idleTimeoutMillis: 30000,
    },
  };
}
