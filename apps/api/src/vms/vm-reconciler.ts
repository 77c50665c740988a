import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { InjectDataSource } from '@nestjs/typeorm';
import { DomainEvent, DomainInfo, LifecycleEvent, VirtualizationPort } from '@limen/libvirt';
import { Subscription } from 'rxjs';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { LeaderElection } from '../database/leader-election';
import { HostPorts } from '../hosts/host-ports';
import { MetricsService } from '../metrics/metrics.service';
import { OperationsService } from '../operations/operations.service';
import { VmOperations } from './vm-operations';
import { bootedSizesOf, TRANSITIONAL_STATES, VmState, vmStateFromDomain } from './vm-state';
import { VmStore } from './vm-store';

function stateFromLifecycle(event: LifecycleEvent): VmState | null {
  switch (event.type) {
    case 'started':
    case 'resumed':
      return 'running';
    case 'suspended':
    case 'pmsuspended':
      return 'paused';
    case 'crashed':
      return 'crashed';
    case 'stopped':
      return event.detail === 'crashed' || event.detail === 'failed' ? 'crashed' : 'stopped';
    case 'undefined':
      return 'missing';
    default:
      return null;
  }
}

/**
 * Keeps VM state in line with the hypervisor, which owns it: hypervisor events
 * apply at once; a periodic sweep (one replica at a time) catches whatever an
 * event stream can miss, marks vanished domains `missing`, removes orphan
 * domains, and resumes stalled deletes. Only the elected leader sweeps.
 */
@Injectable()
export class VmReconciler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Reconciler');
  private readonly subscriptions = new Subscription();
  private sweeping = false;

  constructor(
    private readonly config: AppConfig,
    private readonly hostPorts: HostPorts,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly store: VmStore,
    private readonly vmOperations: VmOperations,
    private readonly operations: OperationsService,
    private readonly scheduler: SchedulerRegistry,
    private readonly metrics: MetricsService,
    private readonly leader: LeaderElection,
  ) {}

  onApplicationBootstrap(): void {
    this.follow(this.hostPorts.localPort);
    this.subscriptions.add(this.hostPorts.opened$.subscribe(({ port }) => this.follow(port)));
    this.scheduler.addInterval(
      'reconcile-sweep',
      setInterval(() => void this.sweep(), this.config.reconcileIntervalSeconds * 1000),
    );
    void this.sweep();
  }

  /** Applies a host's hypervisor events as they arrive. */
  private follow(port: VirtualizationPort): void {
    this.subscriptions.add(
      port.events().subscribe({
        next: (event) =>
          void this.onEvent(event).catch((error) =>
            this.logger.warn(`event handling failed: ${(error as Error).message}`),
          ),
        error: (error) => this.logger.error(`hypervisor event stream failed: ${(error as Error).message}`),
      }),
    );
  }

  onApplicationShutdown(): void {
    this.subscriptions.unsubscribe();
    if (this.scheduler.doesExist('interval', 'reconcile-sweep')) this.scheduler.deleteInterval('reconcile-sweep');
  }

  private async onEvent(event: DomainEvent): Promise<void> {
    if (event.kind === 'resync-needed') {
      this.metrics.eventStreamRestarts.inc();
      this.logger.warn(`hypervisor events may have been missed (${event.reason}); sweeping`);
      await this.sweep();
      return;
    }
    if (event.kind !== 'lifecycle' || !event.vmId) return;
    const state = stateFromLifecycle(event);
    if (state)
      await this.store.setState(
        event.vmId,
        state,
        state === 'missing' ? 'the domain was undefined outside LIMEN' : null,
        TRANSITIONAL_STATES,
      );
  }

  /** Returns false unless this replica is the leader and no sweep is already running here. */
  async sweep(): Promise<boolean> {
    if (this.sweeping || !this.leader.isLeader) return false;
    this.sweeping = true;
    try {
      for (const { host, port } of this.hostPorts.enabled()) {
        let domains: DomainInfo[];
        // Database time, like the rows' updated_at: a VM changed after this (by an event or an
        // operation) is newer than what the listing says about it.
        const [{ listedAt }]: Array<{ listedAt: Date }> = await this.dataSource.query(
          `SELECT clock_timestamp() AS "listedAt"`,
        );
        try {
          domains = await port.listDomains();
        } catch (error) {
          // A host that does not answer keeps its VMs as they are (the host monitor marks them unknown).
          this.logger.warn(`sweep of host ${host.name} skipped: ${(error as Error).message}`);
          continue;
        }
        await this.apply(host.id, port, domains, listedAt);
        await this.resumeDeletes(host.id);
      }
      return true;
    } catch (error) {
      this.logger.warn(`sweep failed: ${(error as Error).message}`);
      return false;
    } finally {
      this.sweeping = false;
    }
  }

  private async apply(hostId: string, port: VirtualizationPort, domains: DomainInfo[], listedAt: Date): Promise<void> {
    const byVm = new Map(domains.filter((d) => d.vmId).map((d) => [d.vmId!, d]));
    // Listing every domain takes a while (longer under load); a VM whose row changed meanwhile,
    // say to `crashed` by the hypervisor's event, must not get the older state back from this
    // listing: it waits for the next sweep.
    const vms: Array<{ id: string; state: VmState }> = await this.dataSource.query(
      `SELECT v.id, v.state FROM vms v
       WHERE v.host_id = $1 AND v.updated_at < $2
         AND NOT EXISTS (SELECT 1 FROM operations o WHERE o.vm_id = v.id AND o.status IN ('pending', 'running'))`,
      [hostId, listedAt],
    );
    for (const vm of vms) {
      const domain = byVm.get(vm.id);
      if (!domain)
        await this.store.setState(
          vm.id,
          'missing',
          'the domain no longer exists on the hypervisor',
          TRANSITIONAL_STATES,
        );
      else
        await this.store.setState(
          vm.id,
          vmStateFromDomain(domain.state, domain.shutoffReason),
          null,
          TRANSITIONAL_STATES,
          bootedSizesOf(domain),
        );
    }
    const known = new Set((await this.dataSource.query(`SELECT id FROM vms`)).map((r: { id: string }) => r.id));
    // Only domains whose disks live in this installation's VM_DIR are ours to remove:
    // another LIMEN (or a test) may share the same libvirtd.
    const ours = (d: DomainInfo) => d.disks.some((disk) => disk.path?.startsWith(`${this.config.hypervisor.vmDir}/`));
    for (const [vmId, domain] of byVm) {
      if (known.has(vmId) || !ours(domain)) continue;
      this.logger.warn(`removing orphan domain of VM ${vmId}, which LIMEN no longer knows`);
      await this.vmOperations
        .destroyAndUndefine(port, vmId)
        .catch((error) => this.logger.warn(`orphan ${vmId} not removed: ${(error as Error).message}`));
    }
  }

  /**
   * A delete that failed half-way (the hypervisor went away mid-delete) leaves its VM `deleting`
   * with no operation and its quota held, and nothing else would ever finish it. The owner asked
   * for it to go, so once its host answers a sweep again this asks again: after one sweep
   * interval, doubling with every failed attempt up to an hour, so a delete that keeps failing
   * does not churn out an operation every sweep.
   */
  private async resumeDeletes(hostId: string): Promise<void> {
    const stalled: Array<{ id: string; owner_id: string; failures: number }> = await this.dataSource.query(
      `SELECT v.id, v.owner_id, d.failures FROM vms v
       CROSS JOIN LATERAL (SELECT count(*)::int AS failures, max(o.finished_at) AS last FROM operations o WHERE o.vm_id = v.id AND o.kind = 'vm.delete' AND o.status = 'failed') d
       WHERE v.host_id = $1 AND v.state = 'deleting'
         AND NOT EXISTS (SELECT 1 FROM operations o WHERE o.vm_id = v.id AND o.status IN ('pending', 'running'))
         AND (d.last IS NULL OR d.last < now() - make_interval(secs => least(3600, $2 * power(2, greatest(d.failures - 1, 0)))))`,
      [hostId, this.config.reconcileIntervalSeconds],
    );
    for (const vm of stalled) {
      this.logger.warn(`resuming the delete of VM ${vm.id} (${vm.failures} failed attempt(s))`);
      await this.operations
        .accept(vm.owner_id, undefined, async (tx) => {
          const op = await this.operations.create(tx, { kind: 'vm.delete', ownerId: vm.owner_id, vmId: vm.id });
          return { op, result: null };
        })
        // The owner's own DELETE got there first (409 OPERATION_IN_PROGRESS): that one finishes it.
        .catch((error) => this.logger.warn(`delete of VM ${vm.id} not resumed: ${(error as Error).message}`));
    }
  }
}
