import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AgentProxyModule } from '../agent-proxy/agent-proxy.module';
import { EventsModule } from '../events/events.module';
import { Host } from './host.entity';
import { HostPorts } from './host-ports';
import { HostSecrets } from './host-secrets';
import { HostsController } from './hosts.controller';
import { HostsService } from './hosts.service';

@Global()
@Module({
  imports: [TypeOrmModule.forFeature([Host]), EventsModule, AgentProxyModule],
  controllers: [HostsController],
  providers: [HostPorts, HostSecrets, HostsService],
  exports: [HostPorts, HostsService],
})
export class HostsModule {}
