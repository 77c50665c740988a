import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { EventsModule } from '../events/events.module';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { Operation } from './operation.entity';
import { OperationRecoveryJob } from './operation-recovery.job';
import { OperationRepository } from './operation.repository';
import { OperationRunner } from './operation-runner';
import { OperationsController } from './operations.controller';
import { OperationsService } from './operations.service';

@Module({
  imports: [TypeOrmModule.forFeature([Operation]), EventsModule, IdempotencyModule],
  controllers: [OperationsController],
  providers: [OperationRepository, OperationRunner, OperationsService, OperationRecoveryJob],
  exports: [OperationRunner, OperationsService],
})
export class OperationsModule {}
