import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DiskDataModule } from '../disks/disk-data.module';
import { EventsModule } from '../events/events.module';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { ImagesModule } from '../images/images.module';
import { NetworkDataModule } from '../networks/network-data.module';
import { OperationsModule } from '../operations/operations.module';
import { QuotasModule } from '../quotas/quotas.module';
import { SchedulesModule } from '../schedules/schedules.module';
import { SnapshotsModule } from '../snapshots/snapshots.module';
import { VmDataModule } from '../vms/vm-data.module';
import { VmsModule } from '../vms/vms.module';
import { Backup } from './backup.entity';
import { BackupOperations } from './backup-operations';
import { BackupRestores } from './backup-restores';
import { BackupRepository } from './backup.repository';
import { BackupScheduleRunner } from './backup-schedule-runner';
import { BackupStore } from './backup-store';
import { BackupsController } from './backups.controller';
import { BackupsService } from './backups.service';

@Module({
  imports: [
    TypeOrmModule.forFeature([Backup]),
    DiskDataModule,
    EventsModule,
    IdempotencyModule,
    ImagesModule,
    NetworkDataModule,
    OperationsModule,
    QuotasModule,
    SchedulesModule,
    SnapshotsModule,
    VmDataModule,
    VmsModule,
  ],
  controllers: [BackupsController],
  providers: [BackupRepository, BackupStore, BackupsService, BackupOperations, BackupRestores, BackupScheduleRunner],
})
export class BackupsModule {}
