import { DataSourceOptions } from 'typeorm';
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
      // PGlite is a single session: a second connection would interleave transactions.
      max: embedded ? 1 : 10,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30000,
    },
  };
}
