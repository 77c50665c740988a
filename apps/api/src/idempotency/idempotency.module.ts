import { Module } from '@nestjs/common';
import { IdempotencyKeyRepository } from './idempotency-key.repository';
import { IdempotencyPruningJob } from './idempotency-pruning.job';
import { IdempotencyService } from './idempotency.service';

@Module({
  providers: [IdempotencyKeyRepository, IdempotencyService, IdempotencyPruningJob],
  exports: [IdempotencyService],
})
export class IdempotencyModule {}
