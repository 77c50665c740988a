import { Module } from '@nestjs/common';
import { IdempotencyKeyRepository } from './idempotency-key.repository';
import { IdempotencyService } from './idempotency.service';

@Module({ providers: [IdempotencyKeyRepository, IdempotencyService], exports: [IdempotencyService] })
export class IdempotencyModule {}
