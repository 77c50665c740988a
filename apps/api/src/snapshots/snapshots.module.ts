import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DiskDataModule } from '../disks/disk-data.module';
import { EventsModule } from '../events/events.module';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { OperationsModule } from '../operations/operations.module';
import { QuotasModule } from '../quotas/quotas.module';
import { VmDataModule } from '../vms/vm-data.module';
import { SchedulesModule } from '../schedules/schedules.module';
import { VmsModule } from '../vms/vms.module';
import { Snapshot } from './snapshot.entity';
import { SnapshotRepository } from './snapshot.repository';
import { SnapshotScheduleRunner } from './snapshot-schedule-runner';
import { SnapshotsController } from './snapshots.controller';
import { SnapshotsService } from './snapshots.service';

@Module({
  imports: [
    TypeOrmModule.forFeature([Snapshot]),
    DiskDataModule,
    EventsModule,
    IdempotencyModule,
    OperationsModule,
    QuotasModule,
    SchedulesModule,
    VmsModule,
    VmDataModule,
  ],
  controllers: [SnapshotsController],
  providers: [SnapshotRepository, SnapshotsService, SnapshotScheduleRunner],
  // Clones copy a snapshot's state (VmClonesModule).
  exports: [SnapshotRepository],
})
export class SnapshotsModule {}
