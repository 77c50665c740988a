import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AgentProxyModule } from '../agent-proxy/agent-proxy.module';
import { EventsModule } from '../events/events.module';
import { VmDataModule } from '../vms/vm-data.module';
import { Host } from './host.entity';
import { HostAgents } from './host-agents';
import { HostMonitor } from './host-monitor';
import { HostPlacement } from './host-placement';
import { HostPorts } from './host-ports';
import { HostRegistry } from './host-registry';
import { HostSecrets } from './host-secrets';
import { HostStorage } from './host-storage';
import { HostRepository } from './host.repository';
import { HostsController } from './hosts.controller';

/** Hypervisor hosts: the registry, the up/down monitor, placement, each host's port and agent. */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature([Host]), EventsModule, AgentProxyModule, VmDataModule],
  controllers: [HostsController],
  providers: [
    HostRepository,
    HostPorts,
    HostSecrets,
    HostAgents,
    HostRegistry,
    HostMonitor,
    HostPlacement,
    HostStorage,
  ],
  exports: [HostRepository, HostPorts, HostRegistry, HostPlacement, HostStorage],
})
export class HostsModule {}
