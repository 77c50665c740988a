import { Tx } from '../../database/transaction';
import { computeCharge } from '../../quotas/quota-ledger';
import { Vm } from '../vm.entity';
import { SweepCandidate } from '../vm-autostart';
import { GuestView, HostAllocation, VmColumnChanges, VmRepository, VmStateChange } from '../vm.repository';
import { stateWriteChanges } from '../vm-state-writer';
import { DesiredState, DOMAIN_RUNNING_STATES, DOMAIN_SHUT_OFF_STATES } from '../vm-state';

/** A VM row with sensible defaults, for specs. */
export function vmRow(fields: Partial<Vm> = {}): Vm {
  const now = new Date('2026-11-26T08:00:00.000Z');
  return Object.assign(new Vm(), {
    id: fields.id ?? `vm-${Math.random().toString(16).slice(2)}`,
    ownerId: 'alice',
    hostId: 'host-1',
    name: 'web-1',
    description: '',
    vcpus: 1,
    memoryMiB: 256,
    runningVcpus: null,
    runningMemoryMiB: null,
    diskGiB: 1,
    imageId: 'image-1',
    mediaImageId: null,
    bootOrder: ['hd'],
    state: 'stopped',
    stateReason: null,
    addresses: [],
    guestAgent: 'absent',
    os: null,
    autostart: false,
    desiredState: 'stopped',
    startAttempts: 0,
    nextStartAt: null,
    lastStartError: null,
    version: 1,
    createdAt: now,
    updatedAt: now,
    ...fields,
  });
}

/**
 * VmRepository in memory, for unit specs: the (owner, name) key, version bumps and the state
 * write's rules (unlessIn, no-op when unchanged, what a running domain booted with).
 */
export class FakeVmRepository {
  readonly rows = new Map<string, Vm>();
  /** Ids of VMs with a pending or running operation (the operations table, as far as VM reads see it). */
  readonly activeOperations = new Set<string>();

  constructor(...vms: Vm[]) {
    for (const vm of vms) this.rows.set(vm.id, vm);
  }

  async find(id: string, _tx?: Tx, _options?: { lock?: boolean }): Promise<Vm | null> {
    const vm = this.rows.get(id);
    return vm ? Object.assign(new Vm(), vm) : null;
  }

  async insertIfNameFree(_tx: Tx, vm: Vm): Promise<boolean> {
    if ([...this.rows.values()].some((row) => row.ownerId === vm.ownerId && row.name === vm.name)) return false;
    vm.createdAt = vm.updatedAt = new Date();
    this.rows.set(vm.id, Object.assign(new Vm(), vm));
    return true;
  }

  async update(id: string, changes: VmColumnChanges, _tx?: Tx): Promise<Vm> {
    const defined = Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined));
    return this.replace(id, { ...defined, version: this.require(id).version + 1 });
  }

  async writeDesiredState(id: string, desired: DesiredState, _tx?: Tx): Promise<Vm | null> {
    const vm = this.rows.get(id);
    if (!vm) return null;
    const clean = vm.startAttempts === 0 && vm.nextStartAt === null && vm.lastStartError === null;
    if (vm.desiredState === desired && clean) return null;
    return this.replace(id, {
      desiredState: desired,
      startAttempts: 0,
      nextStartAt: null,
      lastStartError: null,
      version: vm.version + 1,
    });
  }

  async delete(id: string): Promise<void> {
    this.rows.delete(id);
  }

  async writeState(id: string, change: VmStateChange, _tx?: Tx): Promise<Vm | null> {
    const vm = this.rows.get(id);
    const { state, reason = null, booted } = change;
    if (!vm || !stateWriteChanges(vm, change)) return null;
    const running = DOMAIN_RUNNING_STATES.includes(state);
    const shutOff = DOMAIN_SHUT_OFF_STATES.includes(state);
    return this.replace(id, {
      state,
      stateReason: reason,
      version: vm.version + 1,
      runningVcpus: running ? (booted?.vcpus ?? vm.runningVcpus ?? vm.vcpus) : shutOff ? null : vm.runningVcpus,
      runningMemoryMiB: running
        ? (booted?.memoryMiB ?? vm.runningMemoryMiB ?? vm.memoryMiB)
        : shutOff
          ? null
          : vm.runningMemoryMiB,
    });
  }

  async writeStateOnHost(hostId: string, change: Required<Pick<VmStateChange, 'state' | 'reason' | 'unlessIn'>>) {
    return [...this.rows.values()]
      .filter((vm) => vm.hostId === hostId && vm.state !== change.state && !change.unlessIn.includes(vm.state))
      .map((vm) => this.replace(vm.id, { state: change.state, stateReason: change.reason, version: vm.version + 1 }));
  }

  async allocationsByHost(_tx?: Tx): Promise<Map<string, HostAllocation>> {
    const allocations = new Map<string, HostAllocation>();
    for (const vm of this.rows.values()) {
      if (!vm.hostId) continue;
      const held = allocations.get(vm.hostId) ?? { vcpus: 0, memoryMiB: 0, vms: 0 };
      const charge = computeCharge(vm);
      allocations.set(vm.hostId, {
        vcpus: held.vcpus + charge.vcpus,
        memoryMiB: held.memoryMiB + charge.memoryMiB,
        vms: held.vms + 1,
      });
    }
    return allocations;
  }

  async clock(): Promise<Date> {
    return new Date();
  }

  async sweepCandidates(hostId: string, unchangedSince: Date): Promise<SweepCandidate[]> {
    return [...this.rows.values()]
      .filter((vm) => vm.hostId === hostId && vm.updatedAt < unchangedSince && !this.activeOperations.has(vm.id))
      .map((vm) => ({ ...vm }));
  }

  async autostartCandidates(hostId: string): Promise<Vm[]> {
    return [...this.rows.values()]
      .filter(
        (vm) =>
          vm.hostId === hostId &&
          vm.autostart &&
          vm.desiredState === 'running' &&
          !['provisioning', 'deleting'].includes(vm.state) &&
          !this.activeOperations.has(vm.id),
      )
      .map((vm) => Object.assign(new Vm(), vm));
  }

  async recordStartAttempt(id: string, attempt: { error: string | null; backoffSeconds: number }): Promise<Vm | null> {
    const vm = this.rows.get(id);
    if (!vm) return null;
    const waitSeconds = Math.min(3600, attempt.backoffSeconds * 2 ** vm.startAttempts);
    return this.replace(id, {
      startAttempts: vm.startAttempts + 1,
      nextStartAt: new Date(Date.now() + waitSeconds * 1000),
      lastStartError: attempt.error,
      version: vm.version + 1,
    });
  }

  async resetStartAttempts(id: string): Promise<Vm | null> {
    const vm = this.rows.get(id);
    if (!vm || (vm.startAttempts === 0 && vm.nextStartAt === null && vm.lastStartError === null)) return null;
    return this.replace(id, { startAttempts: 0, nextStartAt: null, lastStartError: null, version: vm.version + 1 });
  }

  async ids(): Promise<string[]> {
    return [...this.rows.keys()];
  }

  /** Without a failure history: every VM left `deleting` with no active operation is due. */
  async stalledDeletes(hostId: string, _retrySeconds: number) {
    return [...this.rows.values()]
      .filter((vm) => vm.hostId === hostId && vm.state === 'deleting' && !this.activeOperations.has(vm.id))
      .map((vm) => ({ id: vm.id, ownerId: vm.ownerId, failures: 0 }));
  }

  async writeGuestView(id: string, view: GuestView, options: { whileRunning: boolean }): Promise<Vm | null> {
    const vm = this.rows.get(id);
    if (!vm || vm.state === 'deleting' || (options.whileRunning && vm.state !== 'running')) return null;
    const same =
      JSON.stringify(vm.addresses.map((a) => [a.nicId, a.mac, a.ip, a.prefix, a.family, a.source])) ===
        JSON.stringify(view.addresses.map((a) => [a.nicId, a.mac, a.ip, a.prefix, a.family, a.source])) &&
      vm.guestAgent === view.guestAgent &&
      JSON.stringify(vm.os) === JSON.stringify(view.os);
    if (same) return null;
    return this.replace(id, { ...structuredClone(view), version: vm.version + 1 });
  }

  async runningOnHost(hostId: string): Promise<Array<GuestView & { id: string; ownerId: string }>> {
    return [...this.rows.values()]
      .filter((vm) => vm.hostId === hostId && vm.state === 'running')
      .map(({ id, ownerId, addresses, guestAgent, os }) => structuredClone({ id, ownerId, addresses, guestAgent, os }));
  }

  async staleGuestViews(): Promise<Array<{ id: string; hostId: string | null }>> {
    return [...this.rows.values()]
      .filter(
        (vm) =>
          !['running', 'deleting'].includes(vm.state) && (vm.addresses.length > 0 || vm.guestAgent === 'connected'),
      )
      .map((vm) => ({ id: vm.id, hostId: vm.hostId }));
  }

  /** Typed as the real one, for constructors. */
  get asRepository(): VmRepository {
    return this as unknown as VmRepository;
  }

  private require(id: string): Vm {
    const vm = this.rows.get(id);
    if (!vm) throw new Error(`no VM ${id}`);
    return vm;
  }

  private replace(id: string, changes: Partial<Vm>): Vm {
    const vm = Object.assign(new Vm(), this.require(id), changes, { updatedAt: new Date() });
    this.rows.set(id, vm);
    return Object.assign(new Vm(), vm);
  }
}
