import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { VirtualizationPort } from '@limen/libvirt';
import { withTimeout } from '../common/with-timeout';
import { AppConfig } from '../config/app-config';
import { LeaderElection } from '../database/leader-election';
import { EventsService } from '../events/events.service';
import { TRANSITIONAL_STATES } from '../vms/vm-state';
import { VmStateWriter } from '../vms/vm-state-writer';
import { Host, HostStorageRecord } from './host.entity';
import { HostAgents } from './host-agents';
import { HostPorts } from './host-ports';
import { HostStorage } from './host-storage';
import { HostRepository } from './host.repository';

const CHECK_TIMEOUT_MS = 5_000;
const AGENT_TIMEOUT_MS = 3_000;
const INTERVAL_NAME = 'host-monitor';

/**
 * Marks hosts up or down by asking each enabled one for its capabilities, reads the storage pools
 * of each host that answers (its VM pool defined first, so it is there before the first VM), and
 * reads each host's agent for the memory it has available. Every replica refreshes its own
 * caches; only the leader records status changes (and their VMs' states) and pool readings, so
 * events are raised once.
 */
@Injectable()
export class HostMonitor implements OnApplicationShutdown {
  private readonly logger = new Logger('Hosts');

  constructor(
    private readonly config: AppConfig,
    private readonly hosts: HostRepository,
    private readonly ports: HostPorts,
    private readonly storage: HostStorage,
    private readonly agents: HostAgents,
    private readonly leader: LeaderElection,
    private readonly events: EventsService,
    private readonly vmStates: VmStateWriter,
    private readonly scheduler: SchedulerRegistry,
  ) {}

  /** Checks at once, then every RECONCILE_INTERVAL_SECONDS. */
  async start(): Promise<void> {
    await this.check();
    this.scheduler.addInterval(
      INTERVAL_NAME,
      setInterval(
        () => void this.check().catch((e) => this.logger.warn(`host monitor failed: ${(e as Error).message}`)),
        this.config.reconcileIntervalSeconds * 1000,
      ),
    );
  }

  onApplicationShutdown(): void {
    if (this.scheduler.doesExist('interval', INTERVAL_NAME)) this.scheduler.deleteInterval(INTERVAL_NAME);
  }

  /** One round over every enabled host. */
  async check(): Promise<void> {
    await this.ports.reload();
    for (const { host, port } of this.ports.enabled()) {
      let up = false;
      try {
        const caps = await withTimeout(port.getHostCapabilities(), CHECK_TIMEOUT_MS);
        up = true;
        if (this.leader.isLeader) await this.markUp(host, caps.cpus, caps.memoryMiB);
      } catch (error) {
        if (this.leader.isLeader) await this.markDown(host, (error as Error).message);
      }
      if (up && this.leader.isLeader) await this.readStorage(host, port);
      await this.readAgent(host);
    }
    await this.ports.reload();
  }

  /**
   * Records the host's LIMEN pools as it reports them, after making sure its VM pool exists; why
   * that failed is recorded with them. A host that stops answering keeps its last reading.
   */
  private async readStorage(host: Host, port: VirtualizationPort): Promise<void> {
    let problem: string | null = null;
    try {
      await withTimeout(this.storage.vmPool(host.id), CHECK_TIMEOUT_MS);
    } catch (error) {
      problem = `the VM pool could not be set up: ${(error as Error).message}`;
    }
    let record: HostStorageRecord;
    try {
      const pools = await withTimeout(port.listStoragePools(), CHECK_TIMEOUT_MS);
      record = { pools, checkedAt: new Date().toISOString(), problem };
    } catch (error) {
      this.logger.warn(`host ${host.name}: its storage pools could not be read: ${(error as Error).message}`);
      return;
    }
    await this.hosts.recordStorage(host.id, record);
  }

  /**
   * The host's own view of its free memory, from its agent. No agent, or none answering, leaves
   * placement to capabilities and allocations alone.
   */
  private async readAgent(host: Host): Promise<void> {
    let availableMiB: number | undefined;
    try {
      const metrics = await this.agents.forHost(host, this.ports.localId)?.metrics(AGENT_TIMEOUT_MS);
      if (metrics && typeof metrics.memory.availableBytes === 'number')
        availableMiB = Math.floor(metrics.memory.availableBytes / 1024 / 1024);
    } catch {
      availableMiB = undefined;
    }
    this.agents.noteAvailableMiB(host.id, availableMiB);
  }

  private async markUp(host: Host, cpus: number, memoryMiB: number): Promise<void> {
    await this.hosts.markUp(host.id, cpus, memoryMiB);
    if (host.status === 'down') {
      this.logger.log(`host ${host.name} is back`);
      await this.events.publish({ type: 'host.up', ownerId: null, payload: { hostId: host.id, name: host.name } });
    }
  }

  /** The host's VMs become `unknown`: their real state cannot be known until it answers again. */
  private async markDown(host: Host, reason: string): Promise<void> {
    await this.hosts.markDown(host.id, reason);
    if (host.status === 'down') return;
    this.logger.error(`host ${host.name} is down: ${reason}`);
    await this.vmStates.setOnHost(host.id, {
      state: 'unknown',
      reason: `host ${host.name} is unreachable`,
      unlessIn: TRANSITIONAL_STATES,
    });
    await this.events.publish({
      type: 'host.down',
      ownerId: null,
      payload: { hostId: host.id, name: host.name, reason },
    });
  }
}
