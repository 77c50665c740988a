import { HttpStatus, Injectable, OnModuleInit } from '@nestjs/common';
import { HypervisorError, VirtualizationPort, VolumeRef } from '@limen/libvirt';
import { AuthUser } from '../auth/decorators';
import { PageQueryDto } from '../common/page-query.dto';
import { AppException, ErrorCode } from '../common/problem';
import { Tx } from '../database/transaction';
import { EventsService } from '../events/events.service';
import { VmDiskRepository } from '../disks/vm-disk.repository';
import { HostPorts } from '../hosts/host-ports';
import { HostStorage } from '../hosts/host-storage';
import { IdempotentRequest } from '../idempotency/idempotency-key.decorator';
import { OperationDto } from '../operations/dto/operation.dto';
import { Operation } from '../operations/operation.entity';
import { OperationRunner } from '../operations/operation-runner';
import { OperationsService } from '../operations/operations.service';
import { Schedule } from '../schedules/schedule.entity';
import { QuotaLedger, snapshotReservationMiB, snapshotSizeMiB } from '../quotas/quota-ledger';
import { Vm } from '../vms/vm.entity';
import { VmRepository } from '../vms/vm.repository';
import { isLegacyVolume } from '../vms/vm-files';
import { bootedSizesOf, TRANSITIONAL_STATES, VmState, vmStateFromDomain } from '../vms/vm-state';
import { VmStateWriter } from '../vms/vm-state-writer';
import { VmAccess } from '../vms/vm-access';
import { withFrozenFilesystems } from '../vms/frozen-filesystems';
import { CreateSnapshotDto, SnapshotAcceptedDto, SnapshotDto } from './dto/snapshot.dto';
import { Snapshot } from './snapshot.entity';
import { SnapshotRepository } from './snapshot.repository';

/** A VM in one of these cannot be snapshotted, reverted or have a snapshot deleted. */
const UNUSABLE_STATES: readonly VmState[] = [...TRANSITIONAL_STATES, 'missing', 'error'];

type SnapshotKind = 'snapshot.create' | 'snapshot.revert' | 'snapshot.delete';

/** What the snapshots of a schedule need to know of it. */
export type ScheduleOfSnapshots = Pick<Schedule, 'id' | 'vmId' | 'ownerId'>;

function assertUsable(vm: Vm): Vm {
  if (UNUSABLE_STATES.includes(vm.state)) {
    throw new AppException(HttpStatus.CONFLICT, ErrorCode.INVALID_STATE, `The VM is ${vm.state}`);
  }
  return vm;
}

/** Snapshots are operations on their VM: one at a time with any other VM operation, quota-checked on create. */
@Injectable()
export class SnapshotsService implements OnModuleInit {
  constructor(
    private readonly snapshots: SnapshotRepository,
    private readonly storage: HostStorage,
    private readonly hostPorts: HostPorts,
    private readonly store: VmAccess,
    private readonly vms: VmRepository,
    private readonly stateWriter: VmStateWriter,
    private readonly ledger: QuotaLedger,
    private readonly operations: OperationsService,
    private readonly runner: OperationRunner,
    private readonly events: EventsService,
    private readonly vmDisks: VmDiskRepository,
  ) {}

  onModuleInit(): void {
    this.runner.register('snapshot.create', (op) => this.runCreate(op));
    this.runner.register('snapshot.revert', (op) => this.runRevert(op));
    this.runner.register('snapshot.delete', (op) => this.runDelete(op));
  }

  async list(
    user: AuthUser,
    vmId: string,
    page: PageQueryDto,
  ): Promise<{ items: Snapshot[]; nextCursor: string | null }> {
    await this.store.visible(user, vmId);
    return this.snapshots.pageOfVm(vmId, page);
  }

  create(user: AuthUser, vmId: string, dto: CreateSnapshotDto, idem?: IdempotentRequest): Promise<SnapshotAcceptedDto> {
    return this.accept(user.id, idem, 'snapshot.create', async (tx) => {
      const vm = await this.usableVm(user, vmId, tx);
      return { vm, snapshot: await this.insertSnapshot(tx, vm, [dto.name], dto.description ?? '', null) };
    });
  }

  /**
   * A schedule's snapshot of its slot, accepted as the schedule's owner (who must still own the VM)
   * under the same quota and state rules as a request. Named after the slot in UTC; when another
   * schedule of the VM took that name in the same slot, with this schedule's id after it.
   */
  createForSchedule(schedule: ScheduleOfSnapshots, slot: Date): Promise<SnapshotAcceptedDto> {
    return this.accept(schedule.ownerId, undefined, 'snapshot.create', async (tx) => {
      const vm = await this.ownedUsableVm(schedule, tx);
      const name = `auto-${slot.toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-')}`;
      const names = [name, `${name}-${schedule.id.slice(0, 8)}`];
      return { vm, snapshot: await this.insertSnapshot(tx, vm, names, 'taken by a schedule', schedule.id) };
    });
  }

  /** The snapshots a schedule took (its retention's copies). */
  ofSchedule(scheduleId: string): Promise<Snapshot[]> {
    return this.snapshots.ofSchedule(scheduleId);
  }

  /**
   * Deletes one of a schedule's snapshots by the path a request takes (a snapshot.delete operation,
   * as the schedule's owner) and waits for it to end: the VM is free for the schedule's next
   * operation afterwards. Throws when the operation fails or does not end within `timeoutMs`.
   */
  async removeForSchedule(schedule: ScheduleOfSnapshots, snapshotId: string, timeoutMs: number): Promise<void> {
    const accepted = await this.accept(schedule.ownerId, undefined, 'snapshot.delete', async (tx) => {
      const vm = await this.ownedUsableVm(schedule, tx);
      const snapshot = await this.readySnapshot(tx, vm.id, snapshotId);
      if (snapshot.scheduleId !== schedule.id) throw AppException.notFound('Snapshot');
      return { vm, snapshot: await this.markDeleting(tx, snapshot) };
    });
    const ended = await this.runner.waitForEnd(accepted.operation.id, timeoutMs);
    if (!ended) throw new Error(`snapshot.delete ${accepted.operation.id} did not end within ${timeoutMs} ms`);
    if (ended.status !== 'succeeded') {
      throw new Error(`snapshot.delete ${ended.id} ended ${ended.status}: ${ended.error?.detail ?? ''}`);
    }
  }

  revert(user: AuthUser, vmId: string, snapshotId: string, idem?: IdempotentRequest): Promise<SnapshotAcceptedDto> {
    return this.accept(user.id, idem, 'snapshot.revert', async (tx) => {
      const vm = await this.usableVm(user, vmId, tx);
      return { vm, snapshot: await this.readySnapshot(tx, vmId, snapshotId) };
    });
  }

  remove(user: AuthUser, vmId: string, snapshotId: string, idem?: IdempotentRequest): Promise<SnapshotAcceptedDto> {
    return this.accept(user.id, idem, 'snapshot.delete', async (tx) => {
      const vm = await this.usableVm(user, vmId, tx);
      return { vm, snapshot: await this.markDeleting(tx, await this.readySnapshot(tx, vmId, snapshotId)) };
    });
  }

  /**
   * Reserves its quota and writes the row (creating) under the first of `names` the VM has no
   * snapshot of; 409 when it has all.
   */
  private async insertSnapshot(
    tx: Tx,
    vm: Vm,
    names: string[],
    description: string,
    scheduleId: string | null,
  ): Promise<Snapshot> {
    const sizeMiB = snapshotReservationMiB(vm);
    await this.ledger.reserve(tx, vm.ownerId, { snapshots: 1, diskGiB: sizeMiB / 1024 });
    for (const name of names) {
      const snapshot = Object.assign(new Snapshot(), {
        vmId: vm.id,
        ownerId: vm.ownerId,
        name,
        description,
        state: 'creating',
        sizeMiB,
        scheduleId,
      });
      // The (VM, name) key: skipped rather than caught, so the transaction stays usable without a savepoint.
      if (await this.snapshots.insertIfNameFree(tx, snapshot)) return snapshot;
    }
    throw new AppException(HttpStatus.CONFLICT, ErrorCode.CONFLICT, `The VM already has a snapshot named ${names[0]}`);
  }

  private async markDeleting(tx: Tx, snapshot: Snapshot): Promise<Snapshot> {
    await this.snapshots.update(snapshot.id, { state: 'deleting' }, tx);
    return { ...snapshot, state: 'deleting' as const };
  }

  private accept(
    callerId: string,
    idem: IdempotentRequest | undefined,
    kind: SnapshotKind,
    work: (tx: Tx) => Promise<{ vm: Vm; snapshot: Snapshot }>,
  ): Promise<SnapshotAcceptedDto> {
    return this.operations.accept(callerId, idem, async (tx) => {
      const { vm, snapshot } = await work(tx);
      const op = await this.operations.create(tx, {
        kind,
        ownerId: vm.ownerId,
        vmId: vm.id,
        params: { snapshotId: snapshot.id },
      });
      return { op, result: { snapshot: SnapshotDto.from(snapshot), operation: OperationDto.from(op) } };
    });
  }

  private async usableVm(user: AuthUser, vmId: string, tx: Tx): Promise<Vm> {
    return assertUsable(await this.store.visible(user, vmId, tx, true));
  }

  /** The schedule's VM, locked, while its owner still owns it (404 otherwise, as for a request of theirs). */
  private async ownedUsableVm(schedule: ScheduleOfSnapshots, tx: Tx): Promise<Vm> {
    const vm = await this.vms.find(schedule.vmId, tx, { lock: true });
    if (!vm || vm.ownerId !== schedule.ownerId) throw AppException.notFound('VM');
    return assertUsable(vm);
  }

  private async readySnapshot(tx: Tx, vmId: string, snapshotId: string): Promise<Snapshot> {
    const snapshot = await this.snapshots.findOfVm(tx, vmId, snapshotId);
    if (!snapshot) throw AppException.notFound('Snapshot');
    if (snapshot.state !== 'ready')
      throw new AppException(HttpStatus.CONFLICT, ErrorCode.INVALID_STATE, `The snapshot is ${snapshot.state}`);
    return snapshot;
  }

  private async snapshotOf(op: Operation<SnapshotKind>): Promise<Snapshot | null> {
    return this.snapshots.find(op.params.snapshotId);
  }

  /** The hypervisor holding the snapshot's VM. */
  private async portOf(snapshot: Snapshot): Promise<VirtualizationPort> {
    const vm = await this.vms.find(snapshot.vmId);
    if (!vm) throw new HypervisorError('DOMAIN_NOT_FOUND', 'The VM no longer exists');
    return this.hostPorts.forVm(vm);
  }

  /**
   * The boot disk's volume in its host's VM pool. Null for a VM made before pools, whose disk is
   * no pool volume: its snapshots are charged what was reserved for them.
   */
  private async bootVolumeOf(vmId: string): Promise<VolumeRef | null> {
    const vm = await this.vms.find(vmId);
    const [boot] = await this.vmDisks.ofVm(vmId);
    if (!vm || !boot || isLegacyVolume(boot.volume)) return null;
    return { pool: (await this.storage.vmPool(vm.hostId)).name, name: boot.volume };
  }

  private async runCreate(op: Operation<'snapshot.create'>): Promise<Record<string, unknown>> {
    const snapshot = await this.snapshotOf(op);
    if (!snapshot) return { skipped: true };
    try {
      const port = await this.portOf(snapshot);
      const existing = (await port.listSnapshots(snapshot.vmId)).some((s) => s.name === snapshot.name);
      if (!existing) {
        // The RAM state lands in the boot disk, and so may more than was reserved: what it grew by is charged.
        const disk = await this.bootVolumeOf(snapshot.vmId);
        const measure = async () => (disk ? (await port.getVolume(disk, 'qcow2')).actualSizeBytes : 0);
        const before = await measure();
        await withFrozenFilesystems(port, await this.vms.find(snapshot.vmId), () =>
          port.createSnapshot(snapshot.vmId, {
            name: snapshot.name,
            description: snapshot.description || undefined,
          }),
        );
        snapshot.sizeMiB = snapshotSizeMiB(snapshot.sizeMiB, (await measure()) - before);
      }
    } catch (error) {
      // Not taken: the row goes, and with it the quota it held.
      await this.snapshots.delete(snapshot.id);
      throw error;
    }
    await this.snapshots.update(snapshot.id, { state: 'ready', sizeMiB: snapshot.sizeMiB });
    await this.events.publish({
      type: 'snapshot.created',
      ownerId: snapshot.ownerId,
      vmId: snapshot.vmId,
      payload: { ...SnapshotDto.from(snapshot), state: 'ready' },
    });
    return { snapshotId: snapshot.id };
  }

  private async runRevert(op: Operation<'snapshot.revert'>): Promise<Record<string, unknown>> {
    const snapshot = await this.snapshotOf(op);
    if (!snapshot) throw AppException.notFound('Snapshot');
    const port = await this.portOf(snapshot);
    await port.revertSnapshot(snapshot.vmId, snapshot.name);
    // A revert brings back the definition of snapshot time, with that time's vCPUs and memory: the
    // next boot must get what the VM is charged for now. A domain resumed from the snapshot's RAM
    // runs with the old sizes until it stops, and is charged for them (setState records them).
    const vm = await this.vms.find(snapshot.vmId);
    if (vm) {
      await port.setVcpus(vm.id, vm.vcpus);
      await port.setMemory(vm.id, vm.memoryMiB);
    }
    const domain = await port.getDomain(snapshot.vmId);
    await this.stateWriter.set(snapshot.vmId, {
      state: vmStateFromDomain(domain.state, domain.shutoffReason),
      booted: bootedSizesOf(domain),
    });
    await this.events.publish({
      type: 'snapshot.reverted',
      ownerId: snapshot.ownerId,
      vmId: snapshot.vmId,
      payload: SnapshotDto.from(snapshot),
    });
    return { snapshotId: snapshot.id, state: vmStateFromDomain(domain.state, domain.shutoffReason) };
  }

  private async runDelete(op: Operation<'snapshot.delete'>): Promise<Record<string, unknown>> {
    const snapshot = await this.snapshotOf(op);
    if (!snapshot) return { alreadyDeleted: true };
    try {
      await (await this.portOf(snapshot)).deleteSnapshot(snapshot.vmId, snapshot.name);
    } catch (error) {
      if (!HypervisorError.is(error, 'SNAPSHOT_NOT_FOUND')) {
        await this.snapshots.update(snapshot.id, { state: 'ready' });
        throw error;
      }
    }
    await this.snapshots.delete(snapshot.id);
    await this.events.publish({
      type: 'snapshot.deleted',
      ownerId: snapshot.ownerId,
      vmId: snapshot.vmId,
      payload: { id: snapshot.id, vmId: snapshot.vmId, name: snapshot.name },
    });
    return { snapshotId: snapshot.id };
  }
}
