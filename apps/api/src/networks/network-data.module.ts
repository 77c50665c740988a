import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { HostPortProbe } from './host-port-probe';
import { Network } from './network.entity';
import { NetworkRepository } from './network.repository';
import { PortForward } from './port-forward.entity';
import { PortForwardRepository } from './port-forward.repository';
import { PortForwardAllocator } from './port-forward-allocator';
import { VmNic } from './vm-nic.entity';
import { VmNicRepository } from './vm-nic.repository';
import { VmNetworking } from './vm-networking';

/**
 * The owner of the `networks`, `vm_nics` and `port_forwards` tables, apart from NetworksModule
 * (routes, rules) so that VmsModule can read and write a VM's NICs without an import cycle.
 */
@Module({
  imports: [TypeOrmModule.forFeature([Network, VmNic, PortForward])],
  providers: [
    NetworkRepository,
    VmNicRepository,
    PortForwardRepository,
    VmNetworking,
    HostPortProbe,
    PortForwardAllocator,
  ],
  exports: [NetworkRepository, VmNicRepository, PortForwardRepository, VmNetworking, PortForwardAllocator],
})
export class NetworkDataModule {}
