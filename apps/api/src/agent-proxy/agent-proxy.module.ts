import { Module } from '@nestjs/common';
import { AgentClient } from './agent-client';
import { AgentProxyController } from './agent-proxy.controller';

/** The api's side of the host metrics agent: its client (for alerting and readiness) and the admin reverse proxy. */
@Module({
  controllers: [AgentProxyController],
  providers: [AgentClient],
  exports: [AgentClient],
})
export class AgentProxyModule {}
