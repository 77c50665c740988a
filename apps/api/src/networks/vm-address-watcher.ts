import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import {
  DhcpLease,
  DomainEvent,
  GuestAgentState,
  HypervisorError,
  InterfaceAddress,
  VirtualizationPort,
} from '@limen/libvirt';
import { Subscription } from 'rxjs';
import { LeaderJobs } from '../database/leader-jobs';
import { EventsService } from '../events/events.service';
import { HostPorts } from '../hosts/host-ports';
import { VmDto } from '../vms/dto/vm.dto';
import { GuestView, VmRepository } from '../vms/vm.repository';
import { NetworkRepository } from './network.repository';
import { mergeAddresses, NicForAddresses } from './vm-addresses';
import { VmNicRepository } from './vm-nic.repository';

const SWEEP = 'vm-address-sweep';
/** The sweep's tick: a running VM still without an address is looked at again this often. */
export const FAST_REFRESH_SECONDS = 5;
/** Every other running VM, this often. */
export const FULL_REFRESH_SECONDS = 30;

/** A running VM as the sweep reads it. */
type WatchedVm = GuestView & { id: string; ownerId: string };

interface RefreshHints {
  /** What the domain or an agent event just said of the agent, newer than the row. */
  guestAgent?: GuestAgentState;
  /** Ask the agent for the OS again (it has just connected: the guest may have booted another kernel). */
  readOs?: boolean;
  /** Read the agent's state from the domain first (it has just started). */
  agentFromDomain?: boolean;
}

/**
 * Keeps each VM's `addresses`, `guestAgent` and `os` current (VmRepository.writeGuestView, then a
 * `vm.addresses` event when something changed):
 * - on hypervisor events, on every replica: `started` (look now, the agent's state as the domain
 *   says), the agent connecting or disconnecting (`agent-lifecycle`; on connect the OS is read
 *   again), `stopped`/`crashed` (no addresses; the agent as the domain says);
 * - on a sweep, on the leader, every FAST_REFRESH_SECONDS: per host, its running VMs still without
 *   an address, and every FULL_REFRESH_SECONDS all of them. It stays cheap at a thousand VMs: one
 *   getDhcpLeases per LIMEN network per host and tick, guest agent calls only for VMs whose agent is
 *   connected, the ARP table only for VMs with a bridge NIC and no agent. The agent's state comes
 *   from events; at start and after the event stream was restarted (events may be lost) one
 *   listDomains per host reads it afresh. VMs that are not running yet show addresses are cleared.
 */
@Injectable()
export class VmAddressWatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('AddressWatcher');
  private readonly subscriptions = new Subscription();
  /** When this replica last refreshed each VM (ms). */
  private readonly refreshedAt = new Map<string, number>();
  /** Per VM, the refresh under way: the next one waits for it, so one VM's writes never overtake each other. */
  private readonly chains = new Map<string, Promise<void>>();
  private resyncWanted = true;

  constructor(
    private readonly hostPorts: HostPorts,
    private readonly vms: VmRepository,
    private readonly nics: VmNicRepository,
    private readonly networks: NetworkRepository,
    private readonly events: EventsService,
    private readonly jobs: LeaderJobs,
  ) {}

  onApplicationBootstrap(): void {
    this.follow(this.hostPorts.localPort);
    this.subscriptions.add(this.hostPorts.opened$.subscribe(({ port }) => this.follow(port)));
    this.jobs.every(SWEEP, FAST_REFRESH_SECONDS, () => this.sweep());
  }

  onApplicationShutdown(): void {
    this.subscriptions.unsubscribe();
  }

  private follow(port: VirtualizationPort): void {
    this.subscriptions.add(
      port.events().subscribe({
        next: (event) =>
          void this.onEvent(port, event).catch((error) =>
            this.logger.warn(`address refresh failed: ${(error as Error).message}`),
          ),
        error: (error) => this.logger.error(`hypervisor event stream failed: ${(error as Error).message}`),
      }),
    );
  }

  /** Applies one hypervisor event (exposed for unit specs). */
  async onEvent(port: VirtualizationPort, event: DomainEvent): Promise<void> {
    if (event.kind === 'resync-needed') {
      this.resyncWanted = true;
      return;
    }
    const vmId = event.vmId;
    if (!vmId) return;
    if (event.kind === 'other') {
      if (event.name !== 'agent-lifecycle') return;
      const connected = event.detail === 'connected';
      return this.enqueue(vmId, () =>
        this.refreshOne(port, vmId, { guestAgent: connected ? 'connected' : 'disconnected', readOs: connected }),
      );
    }
    if (event.type === 'started' || event.type === 'resumed') {
      return this.enqueue(vmId, () => this.refreshOne(port, vmId, { agentFromDomain: true }));
    }
    if (event.type === 'stopped' || event.type === 'crashed' || event.type === 'undefined') {
      if (event.type === 'undefined') this.refreshedAt.delete(vmId);
      return this.enqueue(vmId, () => this.clear(port, vmId));
    }
  }

  /** One tick of the sweep (the leader's job; exposed for unit specs). */
  async sweep(now = Date.now()): Promise<void> {
    const resync = this.resyncWanted;
    this.resyncWanted = false;
    const seen = new Set<string>();
    for (const { host, port } of this.hostPorts.enabled()) {
      if (host.status === 'down') continue;
      try {
        for (const id of await this.sweepHost(host.id, port, now, resync)) seen.add(id);
      } catch (error) {
        if (resync) this.resyncWanted = true;
        this.logger.warn(`address sweep of host ${host.name} failed: ${(error as Error).message}`);
      }
    }
    for (const id of this.refreshedAt.keys()) if (!seen.has(id)) this.refreshedAt.delete(id);
    for (const stale of await this.vms.staleGuestViews()) {
      const port = this.hostPorts.forVm(stale);
      await this.enqueue(stale.id, () => this.clear(port, stale.id));
    }
  }

  /** Refreshes the host's running VMs that are due (all of them on a resync); returns their ids. */
  private async sweepHost(hostId: string, port: VirtualizationPort, now: number, resync: boolean): Promise<string[]> {
    const running = await this.vms.runningOnHost(hostId);
    let agents: Map<string, GuestAgentState> | null = null;
    if (resync) {
      const domains = await port.listDomains();
      agents = new Map(domains.filter((d) => d.vmId).map((d) => [d.vmId!, d.guestAgent]));
    }
    const due = running.filter((vm) => resync || this.due(vm, now));
    const nics = await this.nicsOf(due.map((vm) => vm.id));
    const leases = await this.leasesOf(port, [...nics.values()].flat());
    for (const vm of due) {
      await this.enqueue(vm.id, async () => {
        // The row again, when its turn comes: an event's refresh queued before this one (the agent
        // connected) may have changed it since `running` was read, and that older view would be
        // written back (guestAgent `absent` for good: only events and a resync read the agent's state).
        const current = await this.vms.find(vm.id);
        if (!current || current.state !== 'running') return;
        await this.refresh(port, current, nics.get(vm.id) ?? [], leases, { guestAgent: agents?.get(vm.id) });
      });
    }
    return running.map((vm) => vm.id);
  }

  private due(vm: WatchedVm, now: number): boolean {
    const last = this.refreshedAt.get(vm.id) ?? 0;
    return now - last >= (vm.addresses.length ? FULL_REFRESH_SECONDS : FAST_REFRESH_SECONDS) * 1000 - 500;
  }

  /** One VM, now (an event asked): its row, NICs and their networks' leases read afresh. */
  private async refreshOne(port: VirtualizationPort, vmId: string, hints: RefreshHints): Promise<void> {
    const vm = await this.vms.find(vmId);
    if (!vm || vm.state !== 'running') return;
    const nics = (await this.nicsOf([vmId])).get(vmId) ?? [];
    const guestAgent = hints.agentFromDomain ? await this.agentOfDomain(port, vmId) : hints.guestAgent;
    await this.refresh(port, vm, nics, await this.leasesOf(port, nics), { ...hints, guestAgent });
  }

  /** What the sources say of a running VM now, written when it differs from the row. */
  private async refresh(
    port: VirtualizationPort,
    vm: WatchedVm,
    nics: NicForAddresses[],
    leases: Map<string, DhcpLease[]>,
    hints: RefreshHints,
  ): Promise<void> {
    let guestAgent = hints.guestAgent ?? vm.guestAgent;
    // A new VM's row says `absent` until told otherwise, and the refresh on `started` may come before
    // the row is `running`: ask the domain once, so a VM with an agent channel shows `disconnected`.
    if (guestAgent === 'absent') guestAgent = await this.agentOfDomain(port, vm.id);
    let agent: InterfaceAddress[] | null = null;
    let os = vm.os;
    if (guestAgent === 'connected') {
      try {
        agent = await port.getInterfaceAddresses(vm.id, 'agent');
        if (!os || hints.readOs) os = (await port.getGuestInfo(vm.id)).os;
      } catch (error) {
        if (!HypervisorError.is(error, 'GUEST_AGENT_UNAVAILABLE')) throw error;
        guestAgent = 'disconnected';
      }
    }
    const arp =
      agent === null && nics.some((nic) => nic.kind === 'bridge')
        ? await port.getInterfaceAddresses(vm.id, 'arp')
        : null;
    this.refreshedAt.set(vm.id, Date.now());
    await this.write(vm, { addresses: mergeAddresses(nics, { leases, agent, arp }), guestAgent, os }, true);
  }

  /**
   * A VM whose domain stopped: no addresses, and the agent as its domain says (`absent` without a
   * domain). Not gated on the row's state: the stop event may reach here before VmEventFollower
   * has written it; a domain started again meanwhile is refreshed by its own event or the sweep.
   */
  private async clear(port: VirtualizationPort, vmId: string): Promise<void> {
    const vm = await this.vms.find(vmId);
    if (!vm) return;
    const guestAgent = await this.agentOfDomain(port, vmId);
    await this.write(
      vm,
      { addresses: [], guestAgent: guestAgent === 'connected' ? 'disconnected' : guestAgent, os: vm.os },
      false,
    );
  }

  private async write(vm: { id: string; ownerId: string }, view: GuestView, whileRunning: boolean): Promise<void> {
    const changed = await this.vms.writeGuestView(vm.id, view, { whileRunning });
    if (!changed) return;
    const dto = VmDto.from(changed);
    await this.events.publish({
      type: 'vm.addresses',
      ownerId: changed.ownerId,
      vmId: changed.id,
      payload: {
        vmId: changed.id,
        addresses: dto.addresses,
        guestAgent: dto.guestAgent,
        os: dto.os,
        version: dto.version,
      },
    });
  }

  /** The agent's state as the domain reports it; `absent` once the domain is gone. */
  private async agentOfDomain(port: VirtualizationPort, vmId: string): Promise<GuestAgentState> {
    try {
      return (await port.getDomain(vmId)).guestAgent;
    } catch (error) {
      if (HypervisorError.is(error, 'DOMAIN_NOT_FOUND')) return 'absent';
      throw error;
    }
  }

  /** The NICs of the VMs with their networks' kind and libvirt name, by VM. */
  private async nicsOf(vmIds: string[]): Promise<Map<string, NicForAddresses[]>> {
    const rows = await this.nics.ofVms(vmIds);
    const networks = new Map(
      (await this.networks.findMany([...new Set(rows.map((nic) => nic.networkId))])).map((n) => [n.id, n]),
    );
    const byVm = new Map<string, NicForAddresses[]>();
    for (const nic of rows) {
      const network = networks.get(nic.networkId);
      if (!network) continue;
      const list = byVm.get(nic.vmId) ?? [];
      list.push({ id: nic.id, mac: nic.mac, kind: network.kind, libvirtName: network.libvirtName });
      byVm.set(nic.vmId, list);
    }
    return byVm;
  }

  /** The leases of each LIMEN network the NICs are on: one call per network (one that fails is left out). */
  private async leasesOf(port: VirtualizationPort, nics: NicForAddresses[]): Promise<Map<string, DhcpLease[]>> {
    const leases = new Map<string, DhcpLease[]>();
    for (const name of new Set(nics.map((nic) => nic.libvirtName).filter((n): n is string => !!n))) {
      try {
        leases.set(name, await port.getDhcpLeases(name));
      } catch (error) {
        this.logger.debug(`leases of ${name} not read: ${(error as Error).message}`);
      }
    }
    return leases;
  }

  /** Runs `work` after the VM's previous refresh; a failure is logged and does not stop the next. */
  private enqueue(vmId: string, work: () => Promise<void>): Promise<void> {
    const next = (this.chains.get(vmId) ?? Promise.resolve())
      .then(work)
      .catch((error) => this.logger.warn(`addresses of VM ${vmId} not refreshed: ${(error as Error).message}`));
    this.chains.set(vmId, next);
    void next.then(() => {
      if (this.chains.get(vmId) === next) this.chains.delete(vmId);
    });
    return next;
  }
}
