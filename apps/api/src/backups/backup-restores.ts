import { HttpStatus, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { diskVolumeName, HypervisorError, StoragePoolInfo, VirtualizationPort } from '@limen/libvirt';
import { createHash } from 'node:crypto';
import { AppException, ErrorCode } from '../common/problem';
import { Transactions } from '../database/transaction';
import { VmDisk } from '../disks/vm-disk.entity';
import { VmDiskRepository } from '../disks/vm-disk.repository';
import { EventsService } from '../events/events.service';
import { HostPorts } from '../hosts/host-ports';
import { HostStorage } from '../hosts/host-storage';
import { Operation } from '../operations/operation.entity';
import { OperationRunner } from '../operations/operation-runner';
import { SnapshotRepository } from '../snapshots/snapshot.repository';
import { Vm } from '../vms/vm.entity';
import { VmRepository } from '../vms/vm.repository';
import { DiskFillContext, VmDiskSources } from '../vms/vm-disk-sources';
import { VmDefinitions } from '../vms/vm-definitions';
import { isLegacyVolume } from '../vms/vm-files';
import { vmStateEvent } from '../vms/vm-state-writer';
import { Backup, BackupManifest } from './backup.entity';
import { BackupRepository } from './backup.repository';
import { BackupStore } from './backup-store';

/**
 * The id of the disk a restore (operation `opId`) makes at `position`: the same on a re-run of the
 * operation, so a re-run finds what an interrupted one made instead of making more.
 */
export function restoredDiskId(opId: string, position: number): string {
  const h = createHash('sha256').update(`${opId}/${position}`).digest('hex');
  const variant = (8 | (parseInt(h[16], 16) & 3)).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The disk rows a restore (operation `opId`) gives the VM: the backup's disks, with their serials, as new volumes. */
function plannedDisks(opId: string, vmId: string, manifest: BackupManifest): VmDisk[] {
  return manifest.disks.map((disk) => {
    const id = restoredDiskId(opId, disk.position);
    return Object.assign(new VmDisk(), {
      id,
      vmId,
      position: disk.position,
      sizeGiB: disk.sizeGiB,
      bus: disk.bus,
      bootIndex: disk.bootIndex,
      serial: disk.serial,
      volume: diskVolumeName(vmId, id),
      baseVolume: null,
    });
  });
}

/** Tolerates the "already done" answers, so cleanup converges however far the work got. */
async function unlessAlready(work: Promise<unknown>, ...codes: Array<HypervisorError['code']>): Promise<void> {
  try {
    await work;
  } catch (error) {
    if (!codes.some((code) => HypervisorError.is(error, code))) throw error;
  }
}

/**
 * Restores: `backup.restore` over the original VM, and the `backup` disk filler of a `vm.create`
 * (a restore into a new VM). Neither changes an existing VM before every file's checksum is
 * verified, and both run again from the start after an api restart.
 */
@Injectable()
export class BackupRestores implements OnModuleInit {
  private readonly logger = new Logger('BackupRestores');

  constructor(
    private readonly backups: BackupRepository,
    private readonly store: BackupStore,
    private readonly runner: OperationRunner,
    private readonly diskSources: VmDiskSources,
    private readonly vms: VmRepository,
    private readonly vmDisks: VmDiskRepository,
    private readonly snapshots: SnapshotRepository,
    private readonly definitions: VmDefinitions,
    private readonly hostPorts: HostPorts,
    private readonly storage: HostStorage,
    private readonly transactions: Transactions,
    private readonly events: EventsService,
  ) {}

  onModuleInit(): void {
    this.runner.register('backup.restore', (op) => this.restoreOriginal(op));
    this.diskSources.register('backup', (source, context) => this.fillNewVm(source.backupId, context));
  }

  /**
   * Over the original, stopped VM: every file's checksum is verified before anything changes;
   * then the backup's disks are uploaded as new volumes, the VM's internal snapshots (whose data
   * lives in the disks being replaced) deleted, the domain redefined on the new volumes and the
   * disk rows swapped in one transaction; the old volumes go last.
   */
  private async restoreOriginal(op: Operation<'backup.restore'>): Promise<Record<string, unknown>> {
    const backup = await this.backups.find(op.params.backupId);
    if (!backup?.manifest) throw AppException.notFound('Backup');
    const vm = await this.vms.find(op.vmId!);
    if (!vm) throw new HypervisorError('DOMAIN_NOT_FOUND', 'The VM no longer exists');
    const manifest = backup.manifest;
    const port = this.hostPorts.forVm(vm);
    const planned = plannedDisks(op.id, vm.id, manifest);
    let swapped = false;
    let redefined = false;
    try {
      await this.store.verify(backup.id, manifest);
      const domain = await port.getDomain(vm.id);
      if (domain.state !== 'shutoff')
        throw new AppException(HttpStatus.CONFLICT, ErrorCode.INVALID_STATE, 'The VM is not stopped');
      const pool = await this.storage.vmPool(vm.hostId);
      const old = await this.vmDisks.ofVm(vm.id);
      swapped = old.length === planned.length && old.every((disk) => planned.some((p) => p.id === disk.id));
      if (!swapped) {
        await this.upload(port, backup, pool, planned);
        for (const snapshot of await port.listSnapshots(vm.id))
          await unlessAlready(port.deleteSnapshot(vm.id, snapshot.name), 'SNAPSHOT_NOT_FOUND');
      }
      await this.definitions.redefine(vm, planned);
      redefined = true;
      if (!swapped) {
        await this.swapDisks(vm, old, planned);
        swapped = true;
        await this.deleteOldVolumes(port, pool, old);
      }
      await this.events.publish({
        type: 'backup.restored',
        ownerId: vm.ownerId,
        vmId: vm.id,
        payload: { backupId: backup.id, vmId: vm.id },
      });
      return { backupId: backup.id, disks: planned.length };
    } catch (error) {
      if (!swapped) await this.undoRestore(vm, port, planned, redefined);
      throw error;
    } finally {
      await this.backups.setStateIf(backup.id, 'restoring', 'ready');
    }
  }

  /** The disk rows swapped in one transaction, with the sum the VM is charged and its snapshot rows (their data was in the old disks). */
  private async swapDisks(vm: Vm, old: VmDisk[], planned: VmDisk[]): Promise<void> {
    const updated = await this.transactions.run(async (tx) => {
      for (const disk of old) await this.vmDisks.delete(disk.id, tx);
      for (const disk of planned) await this.vmDisks.add(tx, disk);
      await this.snapshots.deleteOfVm(vm.id, tx);
      return this.vms.update(vm.id, { diskGiB: await this.vmDisks.totalGiB(vm.id, tx) }, tx);
    });
    await this.events.publish(vmStateEvent(updated, 'vm.updated'));
  }

  /**
   * The replaced disks' volumes, then the linked-clone bases they were overlays of that no disk
   * uses any more (a base goes with the last disk over it, never before).
   */
  private async deleteOldVolumes(port: VirtualizationPort, pool: StoragePoolInfo, old: VmDisk[]): Promise<void> {
    for (const disk of old.filter((d) => !isLegacyVolume(d.volume)))
      await port.deleteVolume({ pool: pool.name, name: disk.volume });
    const bases = old.flatMap((disk) => (disk.baseVolume ? [disk.baseVolume] : []));
    for (const name of await this.vmDisks.unusedBases(bases)) await port.deleteVolume({ pool: pool.name, name });
  }

  /** A restore that failed before the swap: the domain as it was, the uploaded volumes go, the VM is charged for the disks it still has. */
  private async undoRestore(vm: Vm, port: VirtualizationPort, planned: VmDisk[], redefined: boolean): Promise<void> {
    try {
      // The domain back on the disks its rows still name, before the volumes it was given go.
      if (redefined) await this.definitions.redefine(vm);
      const pool = await this.storage.vmPool(vm.hostId);
      for (const disk of planned) await port.deleteVolume({ pool: pool.name, name: disk.volume });
    } catch (error) {
      this.logger.warn(`Volumes of the failed restore of VM ${vm.id} stay: ${(error as Error).message}`);
    }
    const total = await this.vmDisks.totalGiB(vm.id);
    if (total !== vm.diskGiB)
      await this.events.publish(vmStateEvent(await this.vms.update(vm.id, { diskGiB: total }), 'vm.updated'));
  }

  /** The backup's disk files as the volumes of `disks` (by position); whatever an interrupted run left there is replaced. */
  private async upload(
    port: VirtualizationPort,
    backup: Backup,
    pool: StoragePoolInfo,
    disks: VmDisk[],
  ): Promise<void> {
    for (const disk of disks) {
      const entry = backup.manifest!.disks.find((d) => d.position === disk.position);
      if (!entry) throw new HypervisorError('OPERATION_FAILED', `The backup has no disk at position ${disk.position}`);
      const ref = { pool: pool.name, name: disk.volume };
      await port.deleteVolume(ref);
      await port.uploadVolume(ref, this.store.filePath(backup.id, entry.file), { format: 'qcow2' });
    }
  }

  /** The `backup` disk filler of a `vm.create`: each file as the new VM's disk volume, its checksum verified meanwhile. */
  private async fillNewVm(backupId: string, { port, vm, pool, disks }: DiskFillContext): Promise<void> {
    const backup = await this.backups.find(backupId);
    if (!backup?.manifest) throw AppException.notFound('Backup');
    try {
      // The new VM's own volumes, which nothing uses yet: the digests are checked while the files
      // are copied (one read's time, not two), and a mismatch fails the create, whose tear-down
      // deletes them. Both are awaited, so nothing is still writing when that happens.
      const [verified, uploaded] = await Promise.allSettled([
        this.store.verify(backup.id, backup.manifest),
        this.upload(port, backup, pool, disks),
      ]);
      if (verified.status === 'rejected') throw verified.reason;
      if (uploaded.status === 'rejected') throw uploaded.reason;
    } finally {
      await this.backups.setStateIf(backup.id, 'restoring', 'ready');
    }
    await this.events.publish({
      type: 'backup.restored',
      ownerId: vm.ownerId,
      vmId: vm.id,
      payload: { backupId: backup.id, vmId: vm.id },
    });
  }
}
