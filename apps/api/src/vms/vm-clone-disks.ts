import { Injectable, OnModuleInit } from '@nestjs/common';
import { HypervisorError, VirtualizationPort, VolumeRef } from '@limen/libvirt';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AppConfig } from '../config/app-config';
import { VmDisk } from '../disks/vm-disk.entity';
import { VmDiskRepository } from '../disks/vm-disk.repository';
import { VmCreateSource } from '../operations/operation-kinds';
import { DiskFillContext, VmDiskSources } from './vm-disk-sources';
import { isLegacyVolume } from './vm-files';
import { VmRepository } from './vm.repository';

const GIB = 1024 ** 3;

type CloneSource = Extract<VmCreateSource, { kind: 'clone' }>;

/**
 * The `clone` disk source of `vm.create`: each disk of the new VM made from the source VM's disk
 * at the same position, in the same pool (a clone is placed on its source's host).
 *
 * - Full: a standalone copy (`cloneVolume`), or, from a snapshot, the snapshot's state exported to
 *   a scratch file and uploaded.
 * - Linked: a qcow2 overlay over a base volume, itself a standalone copy made the same way.
 *
 * Each linked clone request makes its own bases (vm_disks.base_volume, named after the clone's
 * disks) rather than reusing one made earlier from the same source disk. Reuse would need proof
 * that the source disk has not changed since that base was copied, and LIMEN records no such
 * thing (a start, a revert or a write through another path would all have to be tracked), and a
 * base shared between requests could be deleted by one request's failure while another's overlay
 * is being made over it. So the base costs one copy per request, and the overlay is what the
 * clone writes to.
 *
 * A re-run after a crash makes every volume again from the start (a copy interrupted half-way is
 * not worth keeping); a failure deletes the bases and scratch files made here, and the create's
 * tear-down the disk volumes.
 */
@Injectable()
export class VmCloneDisks implements OnModuleInit {
  constructor(
    private readonly config: AppConfig,
    private readonly sources: VmDiskSources,
    private readonly vms: VmRepository,
    private readonly disks: VmDiskRepository,
  ) {}

  onModuleInit(): void {
    this.sources.register('clone', (source, context) => this.fill(source, context));
  }

  async fill(source: CloneSource, { port, vm, pool, disks }: DiskFillContext): Promise<void> {
    const original = await this.vms.find(source.vmId);
    if (!original) throw new HypervisorError('DOMAIN_NOT_FOUND', 'The source VM of the clone no longer exists');
    const sourceDisks = await this.disks.ofVm(original.id);
    if (!source.snapshotName) await this.assertStopped(port, original.id);
    const scratch = join(this.config.dataDir, 'scratch', `clone-${vm.id}`);
    const bases = disks.flatMap((disk) => (disk.baseVolume ? [{ pool: pool.name, name: disk.baseVolume }] : []));
    try {
      await rm(scratch, { recursive: true, force: true });
      for (const disk of disks) {
        const from = sourceDisks.find((d) => d.position === disk.position);
        if (!from || isLegacyVolume(from.volume))
          throw new HypervisorError(
            'OPERATION_FAILED',
            `The source VM has no disk at position ${disk.position} in its storage pool any more`,
          );
        const copy = { source: { pool: pool.name, name: from.volume }, snapshot: source.snapshotName, scratch };
        await this.makeDisk(port, disk, { pool: pool.name, name: disk.volume }, copy);
      }
    } catch (error) {
      for (const base of bases) await port.deleteVolume(base).catch(() => undefined);
      throw error;
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }

  /** A copy without a snapshot reads the source's disks as they are: only while its domain does not run. */
  private async assertStopped(port: VirtualizationPort, sourceId: string): Promise<void> {
    const domain = await port.getDomain(sourceId).catch((error) => {
      if (HypervisorError.is(error, 'DOMAIN_NOT_FOUND')) return null;
      throw error;
    });
    if (domain && domain.state !== 'shutoff' && domain.state !== 'crashed')
      throw new HypervisorError('INVALID_STATE', 'The source VM was started before its disks were copied');
  }

  private async makeDisk(
    port: VirtualizationPort,
    disk: VmDisk,
    target: VolumeRef,
    copy: { source: VolumeRef; snapshot: string | null; scratch: string },
  ): Promise<void> {
    await port.deleteVolume(target);
    const wanted = disk.sizeGiB * GIB;
    if (!disk.baseVolume) {
      await this.standaloneCopy(port, copy, target);
      const { virtualSizeBytes } = await port.getVolume(target, 'qcow2');
      // A snapshot taken before the source disk grew is smaller than the size the clone is charged for.
      if (virtualSizeBytes < wanted) await port.resizeVolume(target, wanted);
      return;
    }
    const base = { pool: target.pool, name: disk.baseVolume };
    await port.deleteVolume(base);
    await this.standaloneCopy(port, copy, base);
    const { virtualSizeBytes } = await port.getVolume(base, 'qcow2');
    await port.createVolume({
      ...target,
      sizeBytes: Math.max(wanted, virtualSizeBytes),
      backing: { ...base, format: 'qcow2' },
    });
  }

  private async standaloneCopy(
    port: VirtualizationPort,
    copy: { source: VolumeRef; snapshot: string | null; scratch: string },
    target: VolumeRef,
  ): Promise<void> {
    if (!copy.snapshot) {
      await port.cloneVolume(copy.source, target);
      return;
    }
    await mkdir(copy.scratch, { recursive: true, mode: 0o700 });
    const file = join(copy.scratch, target.name);
    try {
      await port.exportVolume(copy.source, file, { compress: false, snapshot: copy.snapshot });
      await port.uploadVolume(target, file, { format: 'qcow2' });
    } finally {
      await rm(file, { force: true });
    }
  }
}
