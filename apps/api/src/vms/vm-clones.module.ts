import { Module } from '@nestjs/common';
import { DiskDataModule } from '../disks/disk-data.module';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { ImagesModule } from '../images/images.module';
import { NetworkDataModule } from '../networks/network-data.module';
import { OperationsModule } from '../operations/operations.module';
import { QuotasModule } from '../quotas/quotas.module';
import { SnapshotsModule } from '../snapshots/snapshots.module';
import { VmCloneDisks } from './vm-clone-disks';
import { VmClonesController } from './vm-clones.controller';
import { VmClonesService } from './vm-clones.service';
import { VmDataModule } from './vm-data.module';
import { VmsModule } from './vms.module';

/**
 * Clones (`POST /api/v1/vms/{id}/clone`) and the `clone` disk source of `vm.create`: apart from
 * VmsModule because they read snapshots, whose module depends on VmsModule.
 */
@Module({
  imports: [
    DiskDataModule,
    IdempotencyModule,
    ImagesModule,
    NetworkDataModule,
    OperationsModule,
    QuotasModule,
    SnapshotsModule,
    VmDataModule,
    VmsModule,
  ],
  controllers: [VmClonesController],
  providers: [VmClonesService, VmCloneDisks],
})
export class VmClonesModule {}
