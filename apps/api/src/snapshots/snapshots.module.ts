import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { EventsModule } from '../events/events.module';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { OperationsModule } from '../operations/operations.module';
import { QuotasModule } from '../quotas/quotas.module';
import { VmsModule } from '../vms/vms.module';
import { Snapshot } from './snapshot.entity';
import { SnapshotsController } from './snapshots.controller';
import { SnapshotsService } from './snapshots.service';

@Module({
  imports: [
    TypeOrmModule.forFeature([Snapshot]),
    EventsModule,
    IdempotencyModule,
    OperationsModule,
    QuotasModule,
    VmsModule,
  ],
  controllers: [SnapshotsController],
  providers: [SnapshotsService],
})
export class SnapshotsModule {}
