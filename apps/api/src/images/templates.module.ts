import { Module } from '@nestjs/common';
import { DiskDataModule } from '../disks/disk-data.module';
import { EventsModule } from '../events/events.module';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { OperationsModule } from '../operations/operations.module';
import { QuotasModule } from '../quotas/quotas.module';
import { VmDataModule } from '../vms/vm-data.module';
import { VmsModule } from '../vms/vms.module';
import { ImagesModule } from './images.module';
import { TemplateOperations } from './template-operations';
import { TemplatesController } from './templates.controller';
import { TemplatesService } from './templates.service';

/**
 * Templates (`POST /api/v1/vms/{id}/image`) and the `image.create` operation: apart from
 * ImagesModule because they need VMs (VmAccess), whose module depends on ImagesModule.
 */
@Module({
  imports: [
    DiskDataModule,
    EventsModule,
    IdempotencyModule,
    ImagesModule,
    OperationsModule,
    QuotasModule,
    VmDataModule,
    VmsModule,
  ],
  controllers: [TemplatesController],
  providers: [TemplatesService, TemplateOperations],
})
export class TemplatesModule {}
