import { Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { AgentClient, configuredAgentEndpoint } from './agent-client';
import { AgentProxyController } from './agent-proxy.controller';

/**
 * The api's side of the host metrics agent: the client of the configured agent (AGENT_URL, for
 * alerting, readiness and the local host) and the admin reverse proxy to it.
 */
@Module({
  controllers: [AgentProxyController],
  providers: [
    {
      provide: AgentClient,
      useFactory: (config: AppConfig) => new AgentClient(configuredAgentEndpoint(config.agent)),
      inject: [AppConfig],
    },
  ],
  exports: [AgentClient],
})
export class AgentProxyModule {}
