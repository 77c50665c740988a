import { Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { OperationsModule } from '../operations/operations.module';
import { VmDataModule } from '../vms/vm-data.module';
import { VmsModule } from '../vms/vms.module';
import { NetworkDataModule } from './network-data.module';
import { NetworksController } from './networks.controller';
import { NetworksService } from './networks.service';
import { PortForwardOperations } from './port-forward-operations';
import { PortForwardsService } from './port-forwards.service';
import { VmNicsController } from './vm-nics.controller';
import { VmAddressWatcher } from './vm-address-watcher';
import { VmNicsService } from './vm-nics.service';
import { VmPortForwardsController } from './vm-port-forwards.controller';

/**
 * Networks, NICs and port forwards: `/api/v1/networks`, a VM's NICs (`/api/v1/vms/{id}/nics`) and
 * port forwards (`/api/v1/vms/{id}/port-forwards`), the hypervisor work they need.
 */
@Module({
  imports: [NetworkDataModule, EventsModule, IdempotencyModule, OperationsModule, VmsModule, VmDataModule],
  controllers: [NetworksController, VmNicsController, VmPortForwardsController],
  providers: [NetworksService, VmNicsService, PortForwardsService, PortForwardOperations, VmAddressWatcher],
})
export class NetworksModule {}
