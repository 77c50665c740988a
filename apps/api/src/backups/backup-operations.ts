import { Injectable, Logger, OnApplicationBootstrap, OnModuleInit } from '@nestjs/common';
import { HypervisorError, StoragePoolInfo, VirtualizationPort, VolumeRef } from '@limen/libvirt';
import { LeaderJobs } from '../database/leader-jobs';
import { VmDisk } from '../disks/vm-disk.entity';
import { VmDiskRepository } from '../disks/vm-disk.repository';
import { EventsService } from '../events/events.service';
import { HostPorts } from '../hosts/host-ports';
import { HostStorage } from '../hosts/host-storage';
import { Operation } from '../operations/operation.entity';
import { OperationRunner } from '../operations/operation-runner';
import { VmNetworking } from '../networks/vm-networking';
import { thawIfFrozen, withFrozenFilesystems } from '../vms/frozen-filesystems';
import { Vm } from '../vms/vm.entity';
import { VmRepository } from '../vms/vm.repository';
import { Backup, BackupConsistency, BackupDiskManifest, BackupManifest } from './backup.entity';
import { BackupRepository } from './backup.repository';
import { BackupStore } from './backup-store';
import { BackupsService } from './backups.service';
import { BackupDto } from './dto/backup.dto';

/** How often the leader looks for backups left behind by interrupted or failed work. */
const SWEEP_SECONDS = 60;

/** The VM pool volume a running VM's disk is copied into by a disk backup, before it is exported. */
export function backupTempVolume(vmId: string, backupId: string, diskId: string): string {
  return `${vmId}-backup-${backupId}-${diskId}.qcow2`;
}

/**
 * The hypervisor side of making backups: `backup.create`, and the leader's sweep of backups that
 * interrupted or failed work left behind (restores: BackupRestores). The handler runs again from
 * the start after an api restart, and converges.
 */
@Injectable()
export class BackupOperations implements OnModuleInit, OnApplicationBootstrap {
  private readonly logger = new Logger('BackupOperations');

  constructor(
    private readonly backups: BackupRepository,
    private readonly service: BackupsService,
    private readonly store: BackupStore,
    private readonly runner: OperationRunner,
    private readonly vms: VmRepository,
    private readonly vmDisks: VmDiskRepository,
    private readonly networking: VmNetworking,
    private readonly hostPorts: HostPorts,
    private readonly storage: HostStorage,
    private readonly events: EventsService,
    private readonly jobs: LeaderJobs,
  ) {}

  onModuleInit(): void {
    this.runner.register('backup.create', (op) => this.create(op));
  }

  onApplicationBootstrap(): void {
    this.jobs.every('backup-sweep', SWEEP_SECONDS, () => this.sweep());
  }

  /**
   * Every disk of the VM as a compressed standalone qcow2 in the store. A running (or paused) VM's
   * disks are first copied at one point in time by a disk backup into temporary volumes, with its
   * filesystems frozen only until that point is fixed; a stopped VM's disks are exported directly.
   */
  private async create(op: Operation<'backup.create'>): Promise<Record<string, unknown>> {
    const backup = await this.backups.find(op.params.backupId);
    if (!backup) return { skipped: true };
    const vm = backup.vmId ? await this.vms.find(backup.vmId) : null;
    try {
      if (!vm) throw new HypervisorError('DOMAIN_NOT_FOUND', 'The VM no longer exists');
      const port = this.hostPorts.forVm(vm);
      const pool = await this.storage.vmPool(vm.hostId);
      const disks = await this.vmDisks.ofVm(vm.id);
      // A re-run after the api was killed starts over from a clean slate.
      await this.cleanUp(port, vm, backup.id, pool, disks);
      const made = await this.write(port, vm, backup, pool, disks);
      await this.backups.update(backup.id, {
        state: 'ready',
        consistency: made.manifest.consistency,
        sizeBytes: made.sizeBytes,
        manifest: made.manifest,
        completedAt: new Date(),
      });
      const ready = (await this.backups.find(backup.id))!;
      await this.events.publish({
        type: 'backup.created',
        ownerId: ready.ownerId,
        vmId: ready.vmId,
        payload: BackupDto.from(ready),
      });
      return { backupId: backup.id, consistency: made.manifest.consistency, sizeBytes: made.sizeBytes };
    } catch (error) {
      await this.abandon(backup, vm);
      throw error;
    }
  }

  private async write(
    port: VirtualizationPort,
    vm: Vm,
    backup: Backup,
    pool: StoragePoolInfo,
    disks: VmDisk[],
  ): Promise<{ manifest: BackupManifest; sizeBytes: number }> {
    await this.store.startPartial(backup.id);
    const domain = await port.getDomain(vm.id);
    const live = domain.state !== 'shutoff' && domain.state !== 'crashed';
    let consistency: BackupConsistency = 'filesystem';
    let sources: VolumeRef[] = disks.map((disk) => ({ pool: pool.name, name: disk.volume }));
    if (live) {
      const temps = disks.map((disk) => ({ pool: pool.name, name: backupTempVolume(vm.id, backup.id, disk.id) }));
      const targets = disks.map((disk, i) => ({ diskId: disk.id, target: temps[i] }));
      // Frozen only until the point in time is fixed; the copy itself runs with the guest thawed.
      const frozen = await withFrozenFilesystems(
        port,
        { id: vm.id, guestAgent: vm.guestAgent, state: domain.state === 'running' ? 'running' : 'paused' },
        () => port.beginDiskBackup(vm.id, targets),
      );
      consistency = frozen ? 'filesystem' : 'crash';
      await port.waitDiskBackup(vm.id);
      sources = temps;
    }
    const entries: BackupDiskManifest[] = [];
    for (const [i, disk] of disks.entries()) {
      const file = BackupStore.diskFile(disk.position);
      const path = this.store.partialFile(backup.id, file);
      const exported = await port.exportVolume(sources[i], path, { compress: true });
      entries.push({
        position: disk.position,
        file,
        sizeGiB: disk.sizeGiB,
        bus: disk.bus,
        serial: disk.serial,
        bootIndex: disk.bootIndex,
        sizeBytes: exported.sizeBytes,
        sha256: await this.store.sha256(path),
        virtualSizeBytes: exported.virtualSizeBytes,
      });
    }
    if (live) await this.deleteTemps(port, vm.id, backup.id, pool, disks);
    const manifest = await this.manifestOf(vm, consistency, entries);
    await this.store.commit(backup.id, manifest);
    return { manifest, sizeBytes: entries.reduce((total, entry) => total + entry.sizeBytes, 0) };
  }

  /** What the backup records besides the disks' bytes: enough to make the VM again. */
  private async manifestOf(
    vm: Vm,
    consistency: BackupConsistency,
    disks: BackupDiskManifest[],
  ): Promise<BackupManifest> {
    const nics = await this.networking.nicsWithNetworks(vm.id);
    return {
      formatVersion: 1,
      vm: {
        id: vm.id,
        name: vm.name,
        description: vm.description,
        vcpus: vm.vcpus,
        memoryMiB: vm.memoryMiB,
        imageId: vm.imageId,
        bootOrder: vm.bootOrder,
        nics: nics.map(({ nic }) => ({ networkId: nic.networkId, model: nic.model })),
      },
      consistency,
      disks,
      createdAt: new Date().toISOString(),
    };
  }

  /**
   * Undoes whatever a `backup.create` got to: thaws the guest (in case the api died with it
   * frozen), stops a disk backup still running, deletes the temporary volumes and the partial folder.
   */
  private async cleanUp(
    port: VirtualizationPort,
    vm: Vm,
    backupId: string,
    pool: StoragePoolInfo,
    disks: VmDisk[],
  ): Promise<void> {
    const domain = await port.getDomain(vm.id).catch((error: unknown) => {
      if (HypervisorError.is(error, 'DOMAIN_NOT_FOUND')) return null;
      throw error;
    });
    if (domain && domain.state !== 'shutoff' && domain.state !== 'crashed') {
      await thawIfFrozen(port, {
        id: vm.id,
        guestAgent: vm.guestAgent,
        state: domain.state === 'running' ? 'running' : 'paused',
      });
      await port.abortDiskBackup(vm.id);
    }
    await this.deleteTemps(port, vm.id, backupId, pool, disks);
    await this.store.removePartial(backupId);
  }

  private async deleteTemps(
    port: VirtualizationPort,
    vmId: string,
    backupId: string,
    pool: StoragePoolInfo,
    disks: VmDisk[],
  ): Promise<void> {
    for (const disk of disks)
      await port.deleteVolume({ pool: pool.name, name: backupTempVolume(vmId, backupId, disk.id) });
  }

  /**
   * A failed create: cleaned up and its row deleted (releasing its quota); when the cleanup itself
   * fails (the hypervisor is down), the row is marked `failed`, which releases the quota too, and
   * the sweep finishes the cleanup later.
   */
  private async abandon(backup: Backup, vm: Vm | null): Promise<void> {
    try {
      await this.discardFailed(backup, vm);
    } catch (error) {
      this.logger.warn(`Backup ${backup.id} could not be cleaned up yet: ${(error as Error).message}`);
      await this.backups.update(backup.id, { state: 'failed', error: (error as Error).message.slice(0, 1000) });
    }
  }

  private async discardFailed(backup: Backup, vm: Vm | null): Promise<void> {
    if (vm) {
      const port = this.hostPorts.forVm(vm);
      const pool = await this.storage.vmPool(vm.hostId);
      await this.cleanUp(port, vm, backup.id, pool, await this.vmDisks.ofVm(vm.id));
    }
    await this.store.remove(backup.id);
    await this.backups.delete(backup.id);
  }

  /**
   * Backups that work left behind: failed and interrupted creates are cleaned up (the guest
   * thawed, temporary volumes and partial folders deleted) and their rows deleted, which releases
   * their quota; interrupted deletes are finished; restores that ended leave the backup ready
   * again; folders of backups without a row go. A row whose cleanup fails (the hypervisor is down)
   * is tried again next time.
   */
  async sweep(): Promise<void> {
    for (const backup of await this.backups.stuck()) {
      try {
        if (backup.state === 'restoring') await this.backups.setStateIf(backup.id, 'restoring', 'ready');
        else if (backup.state === 'deleting') await this.service.discard(backup);
        else await this.discardFailed(backup, backup.vmId ? await this.vms.find(backup.vmId) : null);
      } catch (error) {
        this.logger.warn(
          `Backup ${backup.id} (${backup.state}) could not be cleaned up yet: ${(error as Error).message}`,
        );
      }
    }
    // Folders no row speaks for (their owner was deleted, which deletes the rows): a folder is
    // made only once its row exists, and its row goes only once it is removed, so none is in use.
    const ids = await this.store.folderIds();
    const known = await this.backups.existing(ids);
    for (const id of ids.filter((id) => !known.has(id))) await this.store.remove(id);
  }
}
