import { Controller, Get, VERSION_NEUTRAL } from '@nestjs/common';
import { ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckResult, HealthCheckService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import { SkipThrottle } from '@nestjs/throttler';
import { Public } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { AgentHealthIndicator } from './agent.health';
import { HypervisorHealthIndicator } from './hypervisor.health';

/** Kubernetes probes; outside /api and without auth. Like any route, a malformed body gets a 400. */
@ApiTags('health')
@ApiProblems(400)
@Public()
@SkipThrottle()
@Controller({ path: 'health', version: VERSION_NEUTRAL })
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly database: TypeOrmHealthIndicator,
    private readonly hypervisor: HypervisorHealthIndicator,
    private readonly agent: AgentHealthIndicator,
  ) {}

  /** The process is up. Checks nothing else, so a slow database never restarts the pod. */
  @Get('live')
  @HealthCheck()
  live(): Promise<HealthCheckResult> {
    return this.health.check([]);
  }

  /**
   * Ready for traffic: the database and the hypervisor answer. 503 with details when one is down.
   * The metrics agent is reported too, but an unreachable agent only makes the answer `degraded`, still 200.
   */
  @Get('ready')
  @HealthCheck()
  @ApiOkResponse({
    description: 'The database and the hypervisor are up; status "degraded" when only the agent is unreachable',
  })
  @ApiServiceUnavailableResponse({ description: 'A dependency is down; `error` names it' })
  ready(): Promise<HealthCheckResult> {
    return this.health.check([
      () => this.database.pingCheck('database', { timeout: 2000 }),
      () => this.hypervisor.check(),
      () => this.agent.check(),
    ]);
  }
}
