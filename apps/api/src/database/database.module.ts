import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppConfig } from '../config/app-config';
import { connectWithRetry } from './connect-with-retry';
import { DatabaseEndpoint } from './database-endpoint';
import { drainBeforeDestroy } from './drain-before-destroy';
import { dataSourceOptions } from './data-source-options';
import { LeaderElection } from './leader-election';
import { LeaderJobs } from './leader-jobs';
import { Transactions } from './transaction';

@Global()
@Module({
  providers: [
    {
      provide: DatabaseEndpoint,
      inject: [AppConfig],
      useFactory: (config: AppConfig) => DatabaseEndpoint.resolve(config),
    },
    LeaderElection,
    LeaderJobs,
  ],
  exports: [DatabaseEndpoint, LeaderElection, LeaderJobs],
})
class DatabaseEndpointModule {}

/** Transactions for every module, once the DataSource exists. */
@Global()
@Module({ providers: [Transactions], exports: [Transactions] })
class TransactionsModule {}

/** TypeORM over `pg`, against DATABASE_URL or the embedded PGlite; migrations run at start-up. */
@Module({
  imports: [
    DatabaseEndpointModule,
    TypeOrmModule.forRootAsync({
      inject: [DatabaseEndpoint, AppConfig],
      useFactory: (endpoint: DatabaseEndpoint) => ({
        ...dataSourceOptions(endpoint.url, endpoint.isEmbedded),
        autoLoadEntities: true,
        migrationsRun: true,
        retryAttempts: 0,
      }),
      dataSourceFactory: async (options) => drainBeforeDestroy(await connectWithRetry(options!, 60_000)),
    }),
    TransactionsModule,
  ],
  exports: [DatabaseEndpointModule, TransactionsModule],
})
export class DatabaseModule {}
