import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DiskDataModule } from '../disks/disk-data.module';
import { EventsModule } from '../events/events.module';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { ImagesModule } from '../images/images.module';
import { NetworkDataModule } from '../networks/network-data.module';
import { OperationsModule } from '../operations/operations.module';
import { QuotasModule } from '../quotas/quotas.module';
import { SshKeysModule } from '../ssh-keys/ssh-keys.module';
import { Vm } from './vm.entity';
import { VmAutostart } from './vm-autostart';
import { VmDataModule } from './vm-data.module';
import { VmEventFollower } from './vm-event-follower';
import { VmOperations } from './vm-operations';
import { VmDefinitions } from './vm-definitions';
import { VmDiskSources } from './vm-disk-sources';
import { VmReconciler } from './vm-reconciler';
import { VmAccess } from './vm-access';
import { VmsController } from './vms.controller';
import { VmsFromSource } from './vms-from-source';
import { VmsService } from './vms.service';

@Module({
  imports: [
    TypeOrmModule.forFeature([Vm]),
    DiskDataModule,
    EventsModule,
    IdempotencyModule,
    ImagesModule,
    NetworkDataModule,
    OperationsModule,
    QuotasModule,
    SshKeysModule,
    VmDataModule,
  ],
  controllers: [VmsController],
  providers: [
    VmsService,
    VmAccess,
    VmOperations,
    VmAutostart,
    VmReconciler,
    VmEventFollower,
    VmDiskSources,
    VmDefinitions,
    VmsFromSource,
  ],
  exports: [VmAccess, VmsService, VmDiskSources, VmDefinitions, VmsFromSource],
})
export class VmsModule {}
