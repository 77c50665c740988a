import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { AgentProxyModule } from '../agent-proxy/agent-proxy.module';
import { AgentHealthIndicator } from './agent.health';
import { HealthController } from './health.controller';
import { HypervisorHealthIndicator } from './hypervisor.health';

@Module({
  imports: [TerminusModule.forRoot({ errorLogStyle: 'json', gracefulShutdownTimeoutMs: 0 }), AgentProxyModule],
  controllers: [HealthController],
  providers: [HypervisorHealthIndicator, AgentHealthIndicator],
})
export class HealthModule {}
