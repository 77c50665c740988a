import { Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { OperationsModule } from '../operations/operations.module';
import { QuotasModule } from '../quotas/quotas.module';
import { VmDataModule } from '../vms/vm-data.module';
import { VmsModule } from '../vms/vms.module';
import { DiskDataModule } from './disk-data.module';
import { VmDiskOperations } from './vm-disk-operations';
import { VmDisksController } from './vm-disks.controller';
import { VmDisksService } from './vm-disks.service';

/** A VM's disks: `/api/v1/vms/{id}/disks` and the operations that add, remove and grow them. */
@Module({
  imports: [DiskDataModule, EventsModule, IdempotencyModule, OperationsModule, QuotasModule, VmsModule, VmDataModule],
  controllers: [VmDisksController],
  providers: [VmDisksService, VmDiskOperations],
})
export class DisksModule {}
