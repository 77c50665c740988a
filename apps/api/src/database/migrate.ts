import { AppConfig } from '../config/app-config';
import { connectWithRetry } from './connect-with-retry';
import { DatabaseEndpoint } from './database-endpoint';
import { dataSourceOptions } from './data-source-options';

/** `main.js migrate`: apply pending migrations and exit (also done at every start). */
export async function migrate(config: AppConfig): Promise<void> {
  const endpoint = await DatabaseEndpoint.resolve(config);
  const dataSource = await connectWithRetry(dataSourceOptions(endpoint.url, endpoint.isEmbedded), 60_000);
  const applied = await dataSource.runMigrations({ transaction: 'each' });
  process.stdout.write(`Applied ${applied.length} migration(s)${applied.map((m) => `\n  ${m.name}`).join('')}\n`);
  await dataSource.destroy();
  await endpoint.onApplicationShutdown();
}
