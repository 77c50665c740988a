import { HttpStatus, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { HypervisorError, VirtualizationPort, VolumeRef } from '@limen/libvirt';
import { AppException, ErrorCode } from '../common/problem';
import { Transactions, Tx } from '../database/transaction';
import { EventsService } from '../events/events.service';
import { HostPorts } from '../hosts/host-ports';
import { HostStorage } from '../hosts/host-storage';
import { Operation } from '../operations/operation.entity';
import { OperationRunner } from '../operations/operation-runner';
import { Vm } from '../vms/vm.entity';
import { VmRepository } from '../vms/vm.repository';
import { vmStateEvent } from '../vms/vm-state-writer';
import { diskSpecOf } from './disk-layout';
import { DiskDto } from './dto/disk.dto';
import { VmDisk } from './vm-disk.entity';
import { VmDiskRepository } from './vm-disk.repository';

const GIB = 1024 ** 3;

type DiskKind = 'vm.disk.add' | 'vm.disk.remove' | 'vm.disk.resize';

/**
 * A change the hypervisor refused for the VM's state (a device it cannot hot-plug or unplug now):
 * INVALID_STATE with what was refused, which the failed operation shows (409 where a request
 * would answer it). Other failures pass unchanged.
 */
function refusal(error: unknown, what: string): unknown {
  if (!HypervisorError.is(error, 'INVALID_STATE') && !HypervisorError.is(error, 'UNSUPPORTED')) return error;
  return new AppException(
    HttpStatus.CONFLICT,
    ErrorCode.INVALID_STATE,
    `The hypervisor refused to ${what} in the VM's current state; stop the VM and try again`,
  );
}

/**
 * A running guest that did not let go of the disk (one without PCI hot-unplug never does): the
 * definition no longer has it, so it is gone at the next stop, and the removal can be repeated.
 */
function notReleased(error: unknown): unknown {
  if (!HypervisorError.is(error, 'TIMEOUT')) return refusal(error, 'remove the disk');
  return new AppException(
    HttpStatus.CONFLICT,
    ErrorCode.INVALID_STATE,
    'The guest did not release the disk in time; it is detached from the next boot on: stop the VM and remove it again',
  );
}

/**
 * The hypervisor side of a VM's disks: each handler is idempotent (the runner may run it again
 * from the start after an api restart), and a failed add or resize puts the rows and the quota
 * back as they were: nothing half-created.
 */
@Injectable()
export class VmDiskOperations implements OnModuleInit {
  private readonly logger = new Logger('VmDiskOperations');

  constructor(
    private readonly disks: VmDiskRepository,
    private readonly vms: VmRepository,
    private readonly hostPorts: HostPorts,
    private readonly storage: HostStorage,
    private readonly transactions: Transactions,
    private readonly runner: OperationRunner,
    private readonly events: EventsService,
  ) {}

  onModuleInit(): void {
    this.runner.register('vm.disk.add', (op) => this.add(op));
    this.runner.register('vm.disk.remove', (op) => this.remove(op));
    this.runner.register('vm.disk.resize', (op) => this.resize(op));
  }

  /** The volume (a re-run keeps the one it made), then the device unless the domain has it already. */
  private async add(op: Operation<'vm.disk.add'>): Promise<Record<string, unknown>> {
    const { vm, port, disk } = await this.target(op);
    if (!disk) return { skipped: true };
    let ref: VolumeRef | null = null;
    let live = false;
    try {
      ref = await this.volumeOf(vm, disk);
      const volume = await this.createVolume(port, ref, disk.sizeGiB * GIB);
      if (!(await this.attached(port, vm.id, disk.id)))
        live = (await port.attachDisk(vm.id, diskSpecOf(disk, volume.path))).live;
    } catch (error) {
      await this.undoAdd(vm, port, ref, disk);
      throw refusal(error, 'add the disk');
    }
    await this.events.publish({
      type: 'vm.disk.added',
      ownerId: vm.ownerId,
      vmId: vm.id,
      payload: { vmId: vm.id, disk: DiskDto.from(disk) },
    });
    return { diskId: disk.id, live };
  }

  /** Unplugged (unless a re-run finds it gone), its volume deleted, then the row and its charge. */
  private async remove(op: Operation<'vm.disk.remove'>): Promise<Record<string, unknown>> {
    const { vm, port, disk } = await this.target(op);
    if (!disk) return { alreadyRemoved: true };
    let live = false;
    try {
      if (await this.attached(port, vm.id, disk.id)) live = (await port.detachDisk(vm.id, disk.id)).live;
    } catch (error) {
      throw notReleased(error);
    }
    const volume = await this.volumeOf(vm, disk);
    await port.deleteVolume(volume);
    await this.drop(vm, disk.id);
    // A linked clone's disk: its base goes with the last disk over it (asked once this row is gone).
    if (disk.baseVolume && (await this.disks.unusedBases([disk.baseVolume])).length)
      await port.deleteVolume({ pool: volume.pool, name: disk.baseVolume });
    await this.events.publish({
      type: 'vm.disk.removed',
      ownerId: vm.ownerId,
      vmId: vm.id,
      payload: { vmId: vm.id, diskId: disk.id },
    });
    return { diskId: disk.id, live };
  }

  /** The row already has the new size (the request reserved it); a failure puts back the old one. */
  private async resize(op: Operation<'vm.disk.resize'>): Promise<Record<string, unknown>> {
    const { vm, port, disk } = await this.target(op);
    if (!disk) return { skipped: true };
    const { fromGiB, sizeGiB } = op.params;
    let live: boolean;
    try {
      live = (await port.growDisk(vm.id, disk.id, sizeGiB * GIB)).live;
    } catch (error) {
      await this.undoResize(vm, disk.id, sizeGiB, fromGiB);
      throw refusal(error, 'resize the disk');
    }
    await this.events.publish({
      type: 'vm.disk.resized',
      ownerId: vm.ownerId,
      vmId: vm.id,
      payload: { vmId: vm.id, disk: DiskDto.from(disk) },
    });
    return { diskId: disk.id, sizeGiB, live };
  }

  private async target(op: Operation<DiskKind>): Promise<{ vm: Vm; port: VirtualizationPort; disk: VmDisk | null }> {
    const vm = await this.vms.find(op.vmId!);
    if (!vm) throw new HypervisorError('DOMAIN_NOT_FOUND', 'The VM no longer exists');
    return { vm, port: this.hostPorts.forVm(vm), disk: await this.disks.find(op.params.diskId) };
  }

  private async volumeOf(vm: Vm, disk: VmDisk): Promise<VolumeRef> {
    return { pool: (await this.storage.vmPool(vm.hostId)).name, name: disk.volume };
  }

  private async createVolume(port: VirtualizationPort, ref: VolumeRef, sizeBytes: number) {
    try {
      return await port.createVolume({ ...ref, sizeBytes });
    } catch (error) {
      if (!HypervisorError.is(error, 'VOLUME_EXISTS')) throw error;
      return port.getVolume(ref, 'qcow2');
    }
  }

  private async attached(port: VirtualizationPort, vmId: string, diskId: string): Promise<boolean> {
    return (await port.getDomain(vmId)).disks.some((disk) => disk.id === diskId);
  }

  /**
   * What a failed add made goes: the device if it got in, then the volume (left alone if the device
   * would not come out: the VM still uses it), then the row and its charge.
   */
  private async undoAdd(vm: Vm, port: VirtualizationPort, ref: VolumeRef | null, disk: VmDisk): Promise<void> {
    try {
      if (await this.attached(port, vm.id, disk.id)) await port.detachDisk(vm.id, disk.id);
      if (ref) await port.deleteVolume(ref);
    } catch (error) {
      this.logger.warn(`Could not take back disk ${disk.id} of VM ${vm.id}: ${(error as Error).message}`);
    }
    await this.drop(vm, disk.id);
  }

  private async undoResize(vm: Vm, diskId: string, sizeGiB: number, fromGiB: number): Promise<void> {
    await this.recharge(vm, (tx) => this.disks.resize(diskId, sizeGiB, fromGiB, tx));
  }

  /** Deletes the row and gives its size back to the owner's quota. */
  private async drop(vm: Vm, diskId: string): Promise<void> {
    await this.recharge(vm, (tx) => this.disks.delete(diskId, tx));
  }

  /** A change to the VM's disk rows and, in the same transaction, `vms.disk_gib` set to their new sum. */
  private async recharge(vm: Vm, change: (tx: Tx) => Promise<boolean>): Promise<void> {
    const updated = await this.transactions.run(async (tx) => {
      if (!(await change(tx))) return null;
      return this.vms.update(vm.id, { diskGiB: await this.disks.totalGiB(vm.id, tx) }, tx);
    });
    if (updated) await this.events.publish(vmStateEvent(updated, 'vm.updated'));
  }
}
