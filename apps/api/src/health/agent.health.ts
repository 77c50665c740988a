import { Injectable } from '@nestjs/common';
import { HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import { AgentClient } from '../agent-proxy/agent-client';

/**
 * The agent's reachability for /health/ready. The agent only feeds host metrics and alerting,
 * so losing it must never take the api out of a load balancer: instead of `down` (which fails
 * the probe with 503) it reports terminus's `degraded`, which keeps the answer 200 and turns the
 * overall status to "degraded".
 */
@Injectable()
export class AgentHealthIndicator {
  constructor(
    private readonly agent: AgentClient,
    private readonly indicator: HealthIndicatorService,
  ) {}

  async check(key = 'agent'): Promise<HealthIndicatorResult> {
    const session = this.indicator.check(key);
    try {
      await this.agent.health();
      return session.up({ url: this.agent.url });
    } catch (error) {
      return session.degraded({ url: this.agent.url, message: (error as Error).message });
    }
  }
}
