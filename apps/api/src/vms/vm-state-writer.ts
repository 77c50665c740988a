import { Injectable } from '@nestjs/common';
import { Tx } from '../database/transaction';
import { EventsService, NewEvent } from '../events/events.service';
import { Vm } from './vm.entity';
import { VmRepository, VmStateChange } from './vm.repository';
import { DOMAIN_RUNNING_STATES } from './vm-state';

/** The `vm.state` event (or `vm.updated`, same payload) for a VM as it now is: the one builder of that payload. */
export function vmStateEvent(vm: Vm, type: 'vm.state' | 'vm.updated' = 'vm.state'): NewEvent {
  return {
    type,
    ownerId: vm.ownerId,
    vmId: vm.id,
    payload: { vmId: vm.id, state: vm.state, stateReason: vm.stateReason, version: vm.version },
  };
}

/**
 * Whether `writeState(change)` would write the row as read: the same test as its WHERE, so a sweep
 * can skip the statement for the VMs (nearly all) whose domain says what the row already says. The
 * UPDATE's WHERE stays the authority for a row that changed after it was read.
 */
export function stateWriteChanges(
  row: Pick<Vm, 'state' | 'stateReason' | 'runningVcpus' | 'runningMemoryMiB'>,
  change: VmStateChange,
): boolean {
  const { state, reason = null, unlessIn = [], booted, always = false } = change;
  if (unlessIn.includes(row.state)) return false;
  if (always || row.state !== state || row.stateReason !== reason) return true;
  return (
    DOMAIN_RUNNING_STATES.includes(state) &&
    ((booted?.vcpus != null && booted.vcpus !== row.runningVcpus) ||
      (booted?.memoryMiB != null && booted.memoryMiB !== row.runningMemoryMiB))
  );
}

/**
 * The one writer of `vms.state` and `version`: every state change goes through here and raises
 * `vm.state`; and the one place a VM row is deleted, raising `vm.deleted`.
 */
@Injectable()
export class VmStateWriter {
  constructor(
    private readonly vms: VmRepository,
    private readonly events: EventsService,
  ) {}

  /** Outside any transaction: writes, then announces. Returns whether the state changed. */
  async set(id: string, change: VmStateChange): Promise<boolean> {
    const vm = await this.vms.writeState(id, change);
    if (vm) await this.events.publish(vmStateEvent(vm));
    return vm !== null;
  }

  /**
   * Inside the caller's transaction (always writes): the VM as changed and its event, which the
   * caller appends with the rest of its events so it goes out only on commit.
   */
  async setIn(tx: Tx, id: string, change: Omit<VmStateChange, 'always'>): Promise<{ vm: Vm; event: NewEvent }> {
    const vm = await this.vms.writeState(id, { ...change, always: true }, tx);
    if (!vm) throw new Error(`VM ${id} is gone`);
    return { vm, event: vmStateEvent(vm) };
  }

  /**
   * The guest powered itself off (`poweroff` inside it): its user wants it stopped, so the
   * autostart sweep leaves it. Announced as `vm.updated` when that changes the row.
   */
  async poweredOffByGuest(id: string): Promise<void> {
    const vm = await this.vms.writeDesiredState(id, 'stopped');
    if (vm) await this.events.publish(vmStateEvent(vm, 'vm.updated'));
  }

  /** The VM is gone (its domain and files already removed). */
  async delete(vm: Vm): Promise<void> {
    await this.vms.delete(vm.id);
    await this.events.publish({
      type: 'vm.deleted',
      ownerId: vm.ownerId,
      vmId: vm.id,
      payload: { vmId: vm.id, name: vm.name },
    });
  }

  /** Every VM on a host at once (the host went down), each announced. */
  async setOnHost(
    hostId: string,
    change: Required<Pick<VmStateChange, 'state' | 'reason' | 'unlessIn'>>,
  ): Promise<void> {
    for (const vm of await this.vms.writeStateOnHost(hostId, change)) await this.events.publish(vmStateEvent(vm));
  }
}
