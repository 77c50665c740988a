import { Inject, Injectable, Logger } from '@nestjs/common';
import { VIRTUALIZATION_PORT, VirtualizationPort } from '@limen/libvirt';
import { AgentClient } from '../agent-proxy/agent-client';
import { withTimeout } from '../common/with-timeout';
import { AppConfig, QuotaLimits } from '../config/app-config';
import { Tx } from '../database/transaction';
import { HostRepository } from '../hosts/host.repository';
import { QuotaRepository } from '../quotas/quota.repository';
import { VmRepository } from '../vms/vm.repository';
import { AGENT_METRICS, AlertMetric } from './alert-metrics';
import { Samples } from './alert-transitions';

const HYPERVISOR_TIMEOUT_MS = 3000;
const HOST = '';

/** used/limit as a percentage; a zero limit is 0 % while unused and 100 % once anything is used. */
function percent(used: number, limit: number): number {
  if (limit <= 0) return used > 0 ? 100 : 0;
  return (used / limit) * 100;
}

/**
 * Reads this round's values for the metrics enabled rules need. Sources outside the database
 * (the agent, the hypervisor) are read before the evaluation's transaction opens, so no slow
 * HTTP call ever holds a connection; the database ones inside it.
 */
@Injectable()
export class AlertSampler {
  private readonly logger = new Logger('Alerting');
  private lastAgentError: string | null = null;

  constructor(
    private readonly config: AppConfig,
    private readonly agent: AgentClient,
    @Inject(VIRTUALIZATION_PORT) private readonly port: VirtualizationPort,
    private readonly vms: VmRepository,
    private readonly quotas: QuotaRepository,
    private readonly hostRows: HostRepository,
  ) {}

  /** Never throws: an unreachable source makes its `*.up` 0 and its other metrics unknown. */
  async sampleHost(needed: ReadonlySet<AlertMetric>): Promise<Samples> {
    const samples: Samples = new Map();
    const [agent, hypervisorUp] = await Promise.all([
      needed.has('agent.up') || [...AGENT_METRICS].some((m) => needed.has(m)) ? this.agentSample(samples) : undefined,
      needed.has('hypervisor.up') ? this.hypervisorUp() : undefined,
    ]);
    if (agent !== undefined) samples.set('agent.up', new Map([[HOST, agent ? 1 : 0]]));
    if (hypervisorUp !== undefined) samples.set('hypervisor.up', new Map([[HOST, hypervisorUp ? 1 : 0]]));
    return samples;
  }

  /** Samples the database holds, read in the evaluation's own transaction. */
  async sampleDatabase(tx: Tx, needed: ReadonlySet<AlertMetric>): Promise<Samples> {
    const samples: Samples = new Map();
    if (needed.has('vm.crashed')) {
      const vms = await this.vms.idsAndStates(tx);
      samples.set('vm.crashed', new Map(vms.map((vm) => [vm.id, vm.state === 'crashed' ? 1 : 0])));
    }
    if (needed.has('quota.usage.percent')) samples.set('quota.usage.percent', await this.quotaUsage(tx));
    if (needed.has('host.up')) {
      // As the host monitor last saw them; a host not checked yet is left out rather than guessed.
      const hosts = await this.hostRows.checkedStatuses(tx);
      samples.set('host.up', new Map(hosts.map((h) => [h.name, h.status === 'up' ? 1 : 0])));
    }
    return samples;
  }

  private async agentSample(samples: Samples): Promise<boolean> {
    try {
      const metrics = await this.agent.metrics();
      samples.set('host.cpu.percent', new Map([[HOST, metrics.cpu.percent]]));
      samples.set('host.memory.percent', new Map([[HOST, metrics.memory.percent]]));
      samples.set('host.disk.percent', new Map(metrics.disks.map((disk) => [disk.mount, disk.percent])));
      if (this.lastAgentError !== null) this.logger.log('the agent answers again');
      this.lastAgentError = null;
      return true;
    } catch (error) {
      const message = (error as Error).message;
      // Once per change, not once per evaluation.
      if (message !== this.lastAgentError) this.logger.warn(`host metrics unknown: ${message}`);
      this.lastAgentError = message;
      return false;
    }
  }

  private async hypervisorUp(): Promise<boolean> {
    try {
      await withTimeout(this.port.getHostCapabilities(), HYPERVISOR_TIMEOUT_MS);
      return true;
    } catch {
      return false;
    }
  }

  /** Per user: the highest used/limit percentage over their quota resources, in one query. */
  private async quotaUsage(tx: Tx): Promise<Map<string, number>> {
    const rows = await this.quotas.usageOfEveryUser(tx);
    const defaults = this.config.defaultQuota;
    return new Map(
      rows.map((row) => {
        const resources = Object.keys(defaults) as Array<keyof QuotaLimits>;
        const highest = Math.max(...resources.map((r) => percent(Number(row.used[r]), row.limits[r] ?? defaults[r])));
        return [row.userId, Math.round(highest * 100) / 100];
      }),
    );
  }
}
