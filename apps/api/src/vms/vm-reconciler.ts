import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { DomainInfo, VirtualizationPort } from '@limen/libvirt';
import { AppConfig } from '../config/app-config';
import { LeaderJobs } from '../database/leader-jobs';
import { HostPorts } from '../hosts/host-ports';
import { HostStorage } from '../hosts/host-storage';
import { OperationsService } from '../operations/operations.service';
import { VmRepository, VmStateChange } from './vm.repository';
import { autostartGaveUpReason, VmAutostart } from './vm-autostart';
import { destroyAndUndefine } from './vm-operations';
import { bootedSizesOf, TRANSITIONAL_STATES, vmStateFromDomain } from './vm-state';
import { stateWriteChanges, VmStateWriter } from './vm-state-writer';

const SWEEP = 'reconcile-sweep';

/**
 * Keeps VM rows in line with the hypervisor, which owns VM state: every reconcile interval (and
 * when hypervisor events may have been missed, see VmEventFollower) the leader compares each
 * host's domains with its rows, marks vanished domains `missing`, starts VMs found down while
 * wanted running (VmAutostart), removes orphan domains, and resumes stalled deletes. VMs an
 * operation owns are left to it.
 */
@Injectable()
export class VmReconciler implements OnApplicationBootstrap {
  private readonly logger = new Logger('Reconciler');

  constructor(
    private readonly config: AppConfig,
    private readonly hostPorts: HostPorts,
    private readonly storage: HostStorage,
    private readonly vms: VmRepository,
    private readonly stateWriter: VmStateWriter,
    private readonly operations: OperationsService,
    private readonly jobs: LeaderJobs,
    private readonly autostart: VmAutostart,
  ) {}

  onApplicationBootstrap(): void {
    this.jobs.every(SWEEP, this.config.reconcileIntervalSeconds, () => this.sweepHosts());
  }

  /** Returns false unless this replica is the leader, no sweep is already running here, and it succeeded. */
  sweep(): Promise<boolean> {
    return this.jobs.run(SWEEP, () => this.sweepHosts());
  }

  private async sweepHosts(): Promise<void> {
    for (const { host, port } of this.hostPorts.enabled()) {
      // Database time, like the rows' updated_at: a VM changed after this (by an event or an
      // operation) is newer than what the listing says about it.
      const listedAt = await this.vms.clock();
      let domains: DomainInfo[];
      try {
        domains = await port.listDomains();
      } catch (error) {
        // A host that does not answer keeps its VMs as they are (the host monitor marks them unknown).
        this.logger.warn(`sweep of host ${host.name} skipped: ${(error as Error).message}`);
        continue;
      }
      await this.apply(host.id, domains, listedAt);
      await this.autostart.sweepHost(host.id, domains);
      await this.removeOrphans(host.id, port, domains);
      await this.resumeDeletes(host.id);
    }
  }

  /**
   * Each VM's state from its domain, or `missing` without one. Listing every domain takes a while
   * (longer under load); a VM whose row changed meanwhile, say to `crashed` by the hypervisor's
   * event, must not get the older state back from this listing: it waits for the next sweep.
   */
  private async apply(hostId: string, domains: DomainInfo[], listedAt: Date): Promise<void> {
    const byVm = new Map(domains.filter((d) => d.vmId).map((d) => [d.vmId!, d]));
    for (const vm of await this.vms.sweepCandidates(hostId, listedAt)) {
      const domain = byVm.get(vm.id);
      const state = domain && vmStateFromDomain(domain.state, domain.shutoffReason);
      const change: VmStateChange =
        domain && state
          ? {
              state,
              // Kept while it holds, or the next sweep would clear what the last attempt said.
              reason: autostartGaveUpReason(vm, state, this.config.autostart.maxAttempts),
              unlessIn: TRANSITIONAL_STATES,
              booted: bootedSizesOf(domain),
            }
          : {
              state: 'missing',
              reason: 'the domain no longer exists on the hypervisor',
              unlessIn: TRANSITIONAL_STATES,
            };
      if (stateWriteChanges(vm, change)) await this.stateWriter.set(vm.id, change);
    }
  }

  /**
   * Domains of VMs LIMEN no longer knows. Only those whose disks are this installation's are ours
   * to remove: volumes of the VM in the host's VM pool, or (VMs made before pools) files under
   * VM_DIR. Another LIMEN (or a test) may share the same libvirtd.
   */
  private async removeOrphans(hostId: string, port: VirtualizationPort, domains: DomainInfo[]): Promise<void> {
    const known = new Set(await this.vms.ids());
    const pool = this.storage.vmPoolDefinition(hostId).path;
    const ours = (d: DomainInfo) =>
      d.disks.some(
        (disk) =>
          disk.path?.startsWith(`${pool}/${d.vmId}-`) || disk.path?.startsWith(`${this.config.hypervisor.vmDir}/`),
      );
    for (const domain of domains) {
      const vmId = domain.vmId;
      if (!vmId || known.has(vmId) || !ours(domain)) continue;
      this.logger.warn(`removing orphan domain of VM ${vmId}, which LIMEN no longer knows`);
      await destroyAndUndefine(port, vmId).catch((error) =>
        this.logger.warn(`orphan ${vmId} not removed: ${(error as Error).message}`),
      );
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
    for (const vm of await this.vms.stalledDeletes(hostId, this.config.reconcileIntervalSeconds)) {
      this.logger.warn(`resuming the delete of VM ${vm.id} (${vm.failures} failed attempt(s))`);
      await this.operations
        .accept(vm.ownerId, undefined, async (tx) => {
          const op = await this.operations.create(tx, { kind: 'vm.delete', ownerId: vm.ownerId, vmId: vm.id });
          return { op, result: null };
        })
        // The owner's own DELETE got there first (409 OPERATION_IN_PROGRESS): that one finishes it.
        .catch((error) => this.logger.warn(`delete of VM ${vm.id} not resumed: ${(error as Error).message}`));
    }
  }
}
