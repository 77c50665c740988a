import { randomUUID } from 'node:crypto';
import { DiskBus, diskVolumeName } from '@limen/libvirt';
import { VmDisk } from './vm-disk.entity';

/** What the guest sees as the disk's serial: its id's first 20 hex digits (virtio-blk's limit). */
export function diskSerial(diskId: string): string {
  return diskId.replace(/-/g, '').slice(0, 20);
}

/**
 * A new disk row (not yet inserted). `volume` names its file in the host's VM pool; the id is
 * chosen here so the volume name can be derived from it before the row exists.
 */
export function newVmDisk(
  fields: { vmId: string; position: number; sizeGiB: number; bus?: DiskBus; bootIndex?: number | null },
  volumeFor: (diskId: string) => string,
): VmDisk {
  const id = randomUUID();
  return Object.assign(new VmDisk(), {
    id,
    vmId: fields.vmId,
    position: fields.position,
    sizeGiB: fields.sizeGiB,
    bus: fields.bus ?? 'virtio',
    bootIndex: fields.bootIndex ?? null,
    serial: diskSerial(id),
    volume: volumeFor(id),
  });
}

/**
 * A linked clone disk's base: a standalone copy of the source disk in the clone's VM pool, named
 * after the clone and its disk (like the disk's own volume, from ids only), made once per clone
 * request and deleted with the last disk over it.
 */
export function baseVolumeName(vmId: string, diskId: string): string {
  return diskVolumeName(vmId, diskId).replace('-disk-', '-base-');
}
